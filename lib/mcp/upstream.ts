/**
 * One upstream MCP server as the hub's single client of it: connected on first
 * use and kept; a call that finds the connection gone (refused, or the
 * server's session forgotten after its restart) reconnects and retries once;
 * a stdio server that exits is started again with backoff. While a server is
 * down its last known tools stay listed and calls to them fail with a tool
 * error naming the server and the reason.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import { McpError, ToolListChangedNotificationSchema, type Tool } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from '../core/logger.ts'
import { VERSION } from '../core/version.ts'
import { errorResult, type ToolResult } from './types.ts'
import { upstreamFetch } from './upstream-fetch.ts'
import type { UpstreamSpec } from './upstream-config.ts'

const CALL_TIMEOUT_MS = 10 * 60_000
/** A run that stayed up this long resets the restart backoff. */
const STABLE_MS = 30_000
const backoff = (n: number, base: number) => Math.min(base * 2 ** Math.max(0, n - 1), 30_000)

export type UpstreamStatus = { name: string; transport: UpstreamSpec['transport']; state: 'idle' | 'connecting' | 'connected' | 'down' | 'closed'; lastError: string | null; restarts: number; pid: number | null }

const causeCode = (e: unknown) => (e as { cause?: { code?: string } })?.cause?.code ?? (e as { code?: string })?.code

/** The connection is gone before the request reached the server (refused; or its session unknown after a restart), so trying again cannot run the tool twice. */
function notDelivered(e: unknown): boolean {
  if (e instanceof StreamableHTTPError) return e.code === 404
  // compat(sdk): the SSE client's POST errors are plain Errors naming the status.
  if (e instanceof Error && /\(HTTP 404\)/.test(e.message)) return true
  return causeCode(e) === 'ECONNREFUSED'
}
const reason = (e: unknown) => {
  const code = causeCode(e)
  const msg = e instanceof Error ? e.message : String(e)
  return (code && !msg.includes(code) ? `${msg} (${code})` : msg).slice(0, 300)
}

export function createUpstream(spec: UpstreamSpec, o: { log: Logger; backoffMs?: number }) {
  const log = o.log.child({ mcp_server: spec.name })
  const base = o.backoffMs ?? 500
  let client: Client | null = null
  let transport: Transport | null = null
  let connecting: Promise<Client> | null = null
  let tools: Tool[] | null = null
  let lastError: string | null = null
  let failures = 0
  let retryAt = 0
  let connectedAt = 0
  let restarts = 0
  let restartTimer: NodeJS.Timeout | null = null
  let closed = false

  function transportFor(): Transport {
    const requestInit = { headers: spec.headers }
    if (spec.transport === 'http') return new StreamableHTTPClientTransport(new URL(spec.url!), { requestInit, fetch: upstreamFetch })
    if (spec.transport === 'sse') return new SSEClientTransport(new URL(spec.url!), { requestInit, eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...spec.headers } }) } })
    const t = new StdioClientTransport({ command: spec.command!, args: spec.args, env: { ...getDefaultEnvironment(), ...spec.env }, stderr: 'pipe' })
    t.stderr?.on('data', (b: Buffer) => log.info('mcp: stdio server stderr', { text: b.toString('utf8').slice(0, 2000).trimEnd() }))
    return t
  }

  function failed(e: unknown) {
    failures++
    lastError = reason(e)
    retryAt = Date.now() + backoff(failures, base)
    log.warn('mcp: upstream server unavailable', { err: lastError, retry_in_ms: retryAt - Date.now() })
    if (spec.transport === 'stdio') scheduleRestart()
  }

  /** A stdio server that was started once is kept running: started again after it exits, with backoff. */
  function scheduleRestart() {
    if (closed || restartTimer) return
    restartTimer = setTimeout(() => {
      restartTimer = null
      restarts++
      connect().catch(() => {})
    }, Math.max(0, retryAt - Date.now()))
    restartTimer.unref()
  }

  function dropped(c: Client, why: string) {
    if (client !== c) return
    client = null
    transport = null
    if (closed) return
    // A run that died soon after it started counts as a failure, so a crash loop backs off.
    if (Date.now() - connectedAt < STABLE_MS) failures++
    else failures = 1
    lastError = why
    retryAt = Date.now() + backoff(failures, base)
    log.warn('mcp: upstream connection closed', { reason: why })
    if (spec.transport === 'stdio') scheduleRestart()
  }

  function connect(): Promise<Client> {
    if (closed) return Promise.reject(new Error('nestbox is stopping'))
    if (client) return Promise.resolve(client)
    if (connecting) return connecting
    if (Date.now() < retryAt) return Promise.reject(new Error(lastError ?? 'unavailable'))
    connecting = (async () => {
      const c = new Client({ name: 'nestbox-mcp-hub', version: VERSION })
      const t = transportFor()
      c.onclose = () => dropped(c, spec.transport === 'stdio' ? 'the server process exited' : 'the connection closed')
      c.onerror = (e) => log.debug('mcp: upstream transport error', { err: reason(e) })
      c.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
        tools = null
      })
      try {
        await c.connect(t, { timeout: spec.timeoutMs })
      } catch (e) {
        await c.close().catch(() => {})
        throw e
      }
      if (closed) {
        await c.close().catch(() => {})
        throw new Error('nestbox is stopping')
      }
      client = c
      transport = t
      connectedAt = Date.now()
      lastError = null
      retryAt = 0
      log.info('mcp: upstream connected', { pid: (t as { pid?: number | null }).pid ?? null })
      return c
    })()
      .catch((e) => {
        failed(e)
        throw e
      })
      .finally(() => {
        connecting = null
      })
    return connecting
  }

  async function fetchTools(c: Client): Promise<Tool[]> {
    const all: Tool[] = []
    let cursor: string | undefined
    do {
      const page = await c.listTools(cursor ? { cursor } : {}, { timeout: spec.timeoutMs })
      all.push(...page.tools)
      cursor = page.nextCursor
    } while (cursor)
    return all
  }

  /**
   * Runs `fn` on a live connection. A failure that is not the server's own
   * answer ends the connection (the next use reconnects); when the request
   * never reached the server it reconnects and retries once at once.
   */
  async function withClient<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const c = await connect()
    try {
      return await fn(c)
    } catch (e) {
      if (e instanceof McpError) throw e
      const retry = notDelivered(e)
      log.info('mcp: upstream connection failed; closing it', { err: reason(e), retry })
      dropped(c, reason(e))
      await c.close().catch(() => {})
      if (!retry) throw e
      retryAt = 0
      return fn(await connect())
    }
  }

  return {
    spec,
    /** The server's tools (cached; asked again after tools/list_changed or a reconnect). While down: the last known list, or throws if never seen. */
    async tools(): Promise<Tool[]> {
      if (tools && client) return tools
      try {
        const list = await withClient(fetchTools)
        tools = list
        return list
      } catch (e) {
        if (tools) return tools
        throw e
      }
    },

    /** Calls a tool; a server that cannot be reached gives a tool error, a tool's own error passes through. */
    async call(tool: string, args: Record<string, unknown>): Promise<ToolResult> {
      try {
        return (await withClient((c) => c.callTool({ name: tool, arguments: args }, undefined, { timeout: CALL_TIMEOUT_MS, resetTimeoutOnProgress: true }))) as ToolResult
      } catch (e) {
        if (e instanceof McpError) return errorResult(`MCP server "${spec.name}": ${e.message}`)
        return errorResult(`MCP server "${spec.name}" is unavailable: ${reason(e)}`)
      }
    },

    status(): UpstreamStatus {
      const state = closed ? 'closed' : client ? 'connected' : connecting ? 'connecting' : lastError ? 'down' : 'idle'
      return { name: spec.name, transport: spec.transport, state, lastError, restarts, pid: (transport as { pid?: number | null } | null)?.pid ?? null }
    },

    /** Disconnects for good (stdio servers are stopped). */
    async close(): Promise<void> {
      closed = true
      if (restartTimer) clearTimeout(restartTimer)
      restartTimer = null
      const c = client ?? (await connecting?.catch(() => null)) ?? null
      client = null
      await c?.close().catch(() => {})
    },
  }
}
export type Upstream = ReturnType<typeof createUpstream>
