/**
 * Wires the MCP hub: upstream servers from the configuration (a bad entry
 * stops start), the built-in tool sets of the services that have them, audit
 * entries for tool calls, and upstream connections closed (stdio servers
 * stopped) when nestbox stops. The hub, the MCP SDK and the tool sets load
 * with the first MCP request, not at start-up (they cost hundreds of ms).
 */
import type { Core } from '../core/wiring.ts'
import { ConfigError, type Config } from '../core/config/index.ts'
import { system } from '../core/principal.ts'
import type { AuditLog } from '../events/audit.ts'
import type { McpHub, ToolCallRecord } from './service.ts'
import { allows, type McpAccess, type ToolSet } from './types.ts'
import { parseUpstreams } from './upstream-config.ts'

export type McpCore = Pick<Core, 'config' | 'log' | 'lifecycle'>

/**
 * A service's tool set, loaded on first use: `{ name: 'storage', load: async () => (await import('../storage/mcp-tools.ts')).storageTools(storage) }`.
 * `serveAlone`: the hub also serves the set alone at /{name}/mcp (for a service without an MCP endpoint of its own;
 * storage and claudebox have theirs).
 */
export type ToolSetLoader = { name: string; load: () => Promise<ToolSet>; serveAlone?: boolean }

/** `sets`: every service's built-in tool set; a new service adds its own to this list in lib/http/services.ts. */
export function setupMcp(core: McpCore, d: { audit: AuditLog; sets: ToolSetLoader[]; backoffMs?: number }) {
  const log = core.log.child({ mod: 'mcp' })
  let parsed
  try {
    parsed = parseUpstreams(core.config.litellm.mcpServers, d.sets.map((s) => s.name), core.config.litellm.file ?? 'gateway.mcpServers')
  } catch (e) {
    throw new ConfigError((e as Error).message)
  }
  const specs = parsed.specs
  const dup = d.sets.map((s) => s.name).find((n, i, all) => all.indexOf(n) !== i)
  if (dup) throw new ConfigError(`mcp: two tool sets are named ${dup}`)
  const names = new Set([...d.sets.map((s) => s.name), ...specs.map((s) => s.name)])
  const alone = [...d.sets.filter((s) => s.serveAlone).map((s) => s.name), ...specs.map((s) => s.name)]

  // Written after the answer is on its way, together with other calls' entries (audit.recordSoon).
  const audit = (r: ToolCallRecord) => {
    const p = r.caller.principal
    d.audit.recordSoon(p ?? system, {
      teamId: p && 'teamId' in p ? p.teamId : null,
      resourceType: 'mcp_tool',
      resourceId: `${r.server}-${r.tool}`,
      action: 'call',
      status: r.ok ? 'success' : 'failure',
      metadata: { server: r.server, tool: r.tool, key: r.caller.keyName, duration_ms: Math.round(r.durationMs * 1000) / 1000, ...(r.error ? { error: r.error } : {}) },
    })
  }

  const create = async (): Promise<McpHub> => {
    const { createMcpHub } = await import('./service.ts')
    const hub = createMcpHub({ log: core.log, upstreams: specs, backoffMs: d.backoffMs, onCall: audit })
    for (const s of d.sets) hub.register(await s.load())
    return hub
  }
  let hub: Promise<McpHub> | null = null

  core.lifecycle.onStart(() => {
    if (parsed.unsupported.length) log.warn('mcp: MCP server settings nestbox does not implement were ignored', { keys: parsed.unsupported })
    if (specs.length) log.info('mcp: upstream servers configured', { servers: specs.map((s) => `${s.name} (${s.transport})`) })
  })
  core.lifecycle.onStop(async () => {
    if (hub) await (await hub).close()
  })
  return {
    /** The servers whose /{name}/mcp the hub serves: every upstream server, and the sets that asked. */
    ownPaths: () => alone,
    /** Whether a server (built-in or upstream) of this name exists and the caller may use it. */
    visible: (a: McpAccess, name: string) => names.has(name) && allows(a, name),
    /** The hub, created on first use. */
    hub: (): Promise<McpHub> =>
      (hub ??= create().catch((e) => {
        hub = null // a tool set that failed to load is tried again by the next request
        throw e
      })),
  }
}
export type Mcp = ReturnType<typeof setupMcp>
