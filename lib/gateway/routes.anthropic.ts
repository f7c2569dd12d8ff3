/**
 * The Anthropic-format surface: POST /v1/messages and /v1/messages/count_tokens
 * for any configured model (what Claude Code calls), with Anthropic's error
 * envelope. OpenAI-compatible deployments are reached through translation.
 */
import { Hono } from 'hono'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { Logger } from '../core/logger.ts'
import type { AppEnv } from '../http/types.ts'
import { badRequest } from './errors.ts'
import { callerOf, guarded, headerOf, headersOf, newCallId, readBody, readJson, sinkOf } from './http.ts'
import { presentedToken } from './keys/callers.ts'
import type { Op } from './providers/types.ts'
import type { GatewayService } from './service.ts'

export function gatewayAnthropicRoutes(g: GatewayService, o: { log: Logger; maxBodyBytes: number }) {
  const r = new Hono<AppEnv>()
  const call = (op: Op) =>
    guarded(g, o.log, 'anthropic', async (c) => {
      const t0 = performance.now()
      const caller = await callerOf(c, g)
      const body = await readJson(c, o.maxBodyBytes)
      if (typeof body.model !== 'string' || !body.model) throw badRequest('model: Field required', 'model')
      if (!Array.isArray(body.messages)) throw badRequest('messages: Field required', 'messages')
      const md = (body.metadata ?? {}) as Record<string, unknown>
      const meta = { user: typeof md.user_id === 'string' ? md.user_id : null, tags: [], metadata: {} }
      const passHeaders: Record<string, string> = {}
      for (const h of ['anthropic-beta', 'anthropic-version']) {
        const v = headerOf(c, h)
        if (v) passHeaders[h] = v
      }
      await g.call(caller, { op, format: 'anthropic', model: body.model, body, contentType: 'application/json', stream: op === 'messages' && body.stream === true, callId: newCallId(), t0, passHeaders }, meta, sinkOf(c))
      return RESPONSE_ALREADY_SENT
    })
  r.post('/v1/messages', call('messages'))
  r.post('/v1/messages/count_tokens', call('count_tokens'))
  return r
}

/** /anthropic/* and /proxy/anthropic/* (seed 001's Anthropic proxy): forwarded as-is with the real key. */
export function anthropicPassthroughRoutes(g: GatewayService, o: { log: Logger; maxBodyBytes: number }) {
  const r = new Hono<AppEnv>()
  const forward = (prefix: string) =>
    guarded(g, o.log, 'anthropic', async (c) => {
      // seed 001: /proxy/anthropic also takes a sandbox's proxy token
      const caller = (prefix === '/proxy/anthropic' ? await g.proxyTokens.callerOf(presentedToken(headersOf(c))) : undefined) ?? (await callerOf(c, g))
      const incoming = c.env?.incoming
      const url = incoming?.url ?? new URL(c.req.url).pathname
      const q = url.indexOf('?')
      const path = (q < 0 ? url : url.slice(0, q)).slice(prefix.length) || '/'
      const body = c.req.method === 'GET' || c.req.method === 'HEAD' ? Buffer.alloc(0) : await readBody(c, o.maxBodyBytes)
      const headers = incoming?.headers ?? Object.fromEntries(c.req.raw.headers)
      await g.forwardAnthropic(caller, { method: c.req.method, path, query: q < 0 ? '' : url.slice(q), headers, body }, sinkOf(c), newCallId())
      return RESPONSE_ALREADY_SENT
    })
  r.all('/anthropic/*', forward('/anthropic'))
  r.all('/proxy/anthropic/*', forward('/proxy/anthropic'))
  return r
}
