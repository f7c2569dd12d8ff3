/**
 * The MCP hub: nestbox's own tool sets (registered by their services) and the
 * configured upstream MCP servers, served as one catalog whose tools are named
 * `{server}-{tool}` (LiteLLM's convention), or as one server alone. Which
 * servers a caller sees is decided by the gateway (object_permission); this
 * service only applies that list.
 */
import type { Tool } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from '../core/logger.ts'
import { compileSet, listSet, runBuiltin, type CompiledSet } from './builtin.ts'
import { allows as allowed, type McpAccess, type ToolCaller, type ToolResult, type ToolSet } from './types.ts'
import { createUpstream, type Upstream, type UpstreamStatus } from './upstream.ts'
import { toolAllowed, type UpstreamSpec } from './upstream-config.ts'

export type ToolCallRecord = { server: string; tool: string; caller: ToolCaller; ok: boolean; error: string | null; durationMs: number }

export function createMcpHub(d: { log: Logger; upstreams: UpstreamSpec[]; backoffMs?: number; onCall?: (r: ToolCallRecord) => void }) {
  const log = d.log.child({ mod: 'mcp' })
  const sets = new Map<string, CompiledSet>()
  const upstreams = new Map<string, Upstream>(d.upstreams.map((s) => [s.name, createUpstream(s, { log, backoffMs: d.backoffMs })]))

  async function upstreamTools(u: Upstream): Promise<Tool[]> {
    try {
      return (await u.tools()).filter((t) => toolAllowed(u.spec, t.name))
    } catch (e) {
      // A server that was never reached has no tools to show; the others are still listed.
      log.warn('mcp: upstream tools not listed', { mcp_server: u.spec.name, err: (e as Error).message })
      return []
    }
  }

  /** The server a hub tool name belongs to: the longest server name that prefixes it with "-". */
  function split(name: string): { server: string; tool: string } | null {
    let best: string | null = null
    for (const s of [...sets.keys(), ...upstreams.keys()]) if (name.startsWith(s + '-') && (!best || s.length > best.length)) best = s
    return best ? { server: best, tool: name.slice(best.length + 1) } : null
  }

  async function callOn(server: string, tool: string, args: Record<string, unknown>, caller: ToolCaller): Promise<ToolResult | null> {
    const set = sets.get(server)
    if (set) return runBuiltin(set, tool, args, caller, log)
    const u = upstreams.get(server)
    if (!u || !toolAllowed(u.spec, tool)) return null
    return u.call(tool, args)
  }

  return {
    /** Adds a service's tool set (one line per service in its setup); names are unique across sets and upstream servers. */
    register(set: ToolSet): void {
      if (sets.has(set.name) || upstreams.has(set.name)) throw new Error(`mcp: a server named ${set.name} is already registered`)
      sets.set(set.name, compileSet(set))
    },

    /** The tools the caller may use: every allowed server's, prefixed, or `only` that server's, unprefixed. */
    async list(a: McpAccess, only?: string): Promise<Tool[]> {
      const names = only ? [only] : [...sets.keys(), ...upstreams.keys()]
      const lists = await Promise.all(
        names.filter((n) => allowed(a, n)).map(async (n) => {
          const prefix = only ? '' : `${n}-`
          const set = sets.get(n)
          if (set) return listSet(set, prefix)
          const u = upstreams.get(n)
          return u ? (await upstreamTools(u)).map((t) => ({ ...t, name: prefix + t.name })) : []
        }),
      )
      return lists.flat()
    },

    /** Calls a tool by its hub name (or its own name on `only`'s endpoint); null when the caller has no such tool. */
    async call(a: McpAccess, caller: ToolCaller, name: string, args: Record<string, unknown>, only?: string): Promise<ToolResult | null> {
      const target = only ? { server: only, tool: name } : split(name)
      if (!target || !allowed(a, target.server)) return null
      const t0 = performance.now()
      const r = await callOn(target.server, target.tool, args, caller)
      if (r) d.onCall?.({ ...target, caller, ok: !r.isError, error: r.isError ? (r.content.find((c) => c.type === 'text')?.text ?? 'error').slice(0, 500) : null, durationMs: performance.now() - t0 })
      return r
    },

    /** Each upstream server's connection state. */
    status: (): UpstreamStatus[] => [...upstreams.values()].map((u) => u.status()),

    /** Disconnects every upstream and stops stdio servers (nestbox shutdown). */
    async close(): Promise<void> {
      await Promise.all([...upstreams.values()].map((u) => u.close()))
    },
  }
}
export type McpHub = ReturnType<typeof createMcpHub>
