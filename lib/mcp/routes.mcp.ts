/**
 * compat(litellm 000): the MCP hub at POST /mcp/ (every server the key may
 * use, tools named `{server}-{tool}`) and /{server}/mcp (that server alone,
 * its tools unprefixed). Streamable HTTP, stateless; any gateway key or
 * nestbox API key as Bearer (or x-api-key); `x-mcp-servers` narrows the
 * servers. Refusals use the gateway's OpenAI-shaped envelope.
 */
import { Hono, type Context } from 'hono'
import type { IncomingHttpHeaders } from 'node:http'
import type { Logger } from '../core/logger.ts'
import { presentedToken, type Caller } from '../gateway/keys/callers.ts'
import { guarded } from '../gateway/http.ts'
import { GatewayError } from '../gateway/errors.ts'
import type { Gateway } from '../gateway/setup.ts'
import type { AppEnv } from '../http/types.ts'
import type { IdentityService } from '../identity/service.ts'
import { keyNameOf, principalOf } from './callers.ts'
import type { Mcp } from './setup.ts'
import { errorResult, narrow, type ToolResult } from './types.ts'
import { readAll } from '../gateway/calls/upstream.ts'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { answerFast, fastHeaders, fastRequest, type FastRequest } from './fast-path.ts'
import type { Catalog } from './serve.ts'

/** Node's request headers as Web Headers (for the SDK's transport, once the body was read here). */
function headersOf(h: IncomingHttpHeaders): Headers {
  const out = new Headers()
  for (const k in h) {
    const v = h[k]
    if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : v)
  }
  return out
}

/** Largest JSON-RPC request body (tool arguments travel inline). */
const MAX_BODY_BYTES = 16 * 1024 * 1024

export function mcpRoutes(mcp: Mcp, d: { gateway: Gateway; identity: IdentityService; log: Logger; publicUrl: () => string }) {
  const r = new Hono<AppEnv>()
  const rootUrl = (c: Context<AppEnv>) => d.publicUrl().replace(/\/$/, '') || `${new URL(c.req.url).protocol}//${c.req.header('host') ?? new URL(c.req.url).host}`

  const serve = (server: string | undefined) =>
    guarded(d.gateway, d.log, 'openai', async (c) => {
      const token = presentedToken({ authorization: c.req.header('authorization'), 'x-api-key': c.req.header('x-api-key'), 'api-key': c.req.header('api-key'), 'x-litellm-api-key': c.req.header('x-litellm-api-key') })
      let caller
      try {
        caller = await d.gateway.authenticate(token)
      } catch (e) {
        // MCP clients (Claude Code, the SDK) look for this header on a 401.
        if (e instanceof GatewayError && e.status === 401) throw new GatewayError(401, e.type, e.message, { headers: { 'www-authenticate': 'Bearer' } })
        throw e
      }
      const access = narrow({ servers: await d.gateway.mcpServers(caller) }, c.req.header('x-mcp-servers'))
      if (server !== undefined && !mcp.visible(access, server)) throw new GatewayError(404, 'not_found_error', `no MCP server named ${server.slice(0, 64)} for this key`)
      const hub = await mcp.hub()
      const tc = { principal: await principalOf(caller, token!, d.identity), keyName: keyNameOf(caller), baseUrl: rootUrl(c) }
      const catalog: Catalog = { list: () => hub.list(access, server), call: (name, args) => admitted(caller, () => hub.call(access, tc, name, args, server)) }
      const incoming = c.env?.incoming
      const out = c.env?.outgoing
      const declared = Number(incoming?.headers['content-length'] ?? NaN)
      // The common calls are answered here (fast-path.ts); the rest, and any body not sized up front, go to the SDK's transport.
      if (!incoming || !out || c.req.method !== 'POST' || !(declared <= MAX_BODY_BYTES) || !fastHeaders(incoming.headers)) return sdk(c.req.raw, server, catalog)
      const body = (await readAll(incoming, MAX_BODY_BYTES)).toString('utf8')
      let fast: FastRequest | null = null
      try {
        fast = fastRequest(JSON.parse(body))
      } catch {
        // not JSON: the SDK answers its parse error
      }
      if (!fast) return sdk(new Request(c.req.url, { method: 'POST', headers: headersOf(incoming.headers), body }), server, catalog)
      const text = await answerFast(fast, catalog)
      out.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      out.end(text)
      return RESPONSE_ALREADY_SENT
    })

  const sdk = async (request: Request, server: string | undefined, catalog: Catalog) => (await import('./serve.ts')).serveMcp(request, server ? `nestbox-${server}` : 'nestbox', catalog, { maxBodyBytes: MAX_BODY_BYTES })

  /** A tool call counts in the key's request limits; over them it is a tool error the agent can read. */
  async function admitted(caller: Caller, run: () => Promise<ToolResult | null>): Promise<ToolResult | null> {
    let release: () => void
    try {
      release = await d.gateway.admitToolCall(caller)
    } catch (e) {
      if (e instanceof GatewayError && e.status < 500) return errorResult(e.message)
      throw e
    }
    try {
      return await run()
    } finally {
      release()
    }
  }

  const all = serve(undefined)
  r.all('/mcp', all)
  r.all('/mcp/', all)
  // One route per server, not /:server/mcp: /storage/mcp/, /claudebox/mcp/ and the like belong to their own surfaces, with their own auth.
  for (const name of mcp.ownPaths()) {
    const solo = serve(name)
    r.all(`/${name}/mcp`, solo)
    r.all(`/${name}/mcp/`, solo)
  }
  return r
}
