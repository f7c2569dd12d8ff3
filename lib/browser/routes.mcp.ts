/**
 * compat(stealthy-auto-browse 000): MCP at /stealthy-auto-browse/mcp/ with the
 * original's tool names (mcp-tools.ts). The original's HAProxy pins an MCP
 * session to one replica by Mcp-Session-Id: here the first answer of a session
 * hands out that header, and every call carrying it runs on the replica the
 * session first used. The same tools join the /mcp/ hub as browser-* (hubTools).
 */
import { Hono, type Context } from 'hono'
import { randomBytes } from 'node:crypto'
import { AppError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { roleAtLeast } from '../core/principal.ts'
import type { AppEnv } from '../http/types.ts'
import { compileSet, listSet, runBuiltin } from '../mcp/builtin.ts'
import { serveMcp } from '../mcp/serve.ts'
import type { ToolCaller, ToolSet } from '../mcp/types.ts'
import { runAction } from './actions/index.ts'
import type { BrowserAuth } from './auth.ts'
import { browserTools } from './mcp-tools.ts'
import { BROWSER_PREFIX, bearerOf } from './http.ts'
import type { BrowserPool } from './service.ts'

/** Sessions remembered (oldest forgotten first): a forgotten session just lands on any replica. */
const MAX_SESSIONS = 10_000
const SESSION = /^[A-Za-z0-9._-]{1,128}$/

export function browserMcpRoutes(pool: BrowserPool, auth: BrowserAuth, log: Logger) {
  const sessions = new Map<string, string>()
  const sessionOf = new WeakMap<ToolCaller, string>()
  const set = compileSet(
    browserTools(
      async (body, caller) => {
        const sid = sessionOf.get(caller)!
        const { replica, value } = await pool.run(sessions.get(sid) ?? null, (r) => runAction(r, body))
        sessions.delete(sid)
        sessions.set(sid, replica.id)
        if (sessions.size > MAX_SESSIONS) sessions.delete(sessions.keys().next().value!)
        return value
      },
      { clusterMode: false },
    ),
  )

  const handle = async (c: Context<AppEnv>) => {
    await auth.check(bearerOf(c))
    const given = c.req.header('mcp-session-id')
    const sid = given && SESSION.test(given) ? given : `sab-${randomBytes(16).toString('hex')}`
    const caller: ToolCaller = { principal: null, keyName: '', baseUrl: new URL(c.req.url).origin }
    sessionOf.set(caller, sid)
    const res = await serveMcp(c.req.raw, 'stealthy-auto-browse', { list: async () => listSet(set, ''), call: (name, args) => runBuiltin(set, name, args, caller, log) })
    if (!given && res.status < 400) res.headers.set('Mcp-Session-Id', sid)
    return res
  }
  const r = new Hono<AppEnv>()
  r.all(`${BROWSER_PREFIX}/mcp`, handle)
  r.all(`${BROWSER_PREFIX}/mcp/`, handle)
  return r
}

/**
 * The browser-* tools of the /mcp/ hub: keys of the pool's team (members and
 * up) or the gateway master key. Hub calls carry no session, so with several
 * replicas only run_script is offered, as the original does.
 */
export function hubTools(pool: BrowserPool, teamId: () => string | null, replicas: number): ToolSet {
  return browserTools(
    async (body, caller) => {
      const p = caller.principal
      if (p) {
        if ((p.kind !== 'api_key' && p.kind !== 'user') || p.teamId !== teamId()) throw new AppError(403, 'forbidden', 'this browser pool belongs to another team')
        if (!roleAtLeast(p.role, 'member')) throw new AppError(403, 'insufficient_role', 'viewers cannot drive the browser pool')
      }
      return (await pool.run(null, (r) => runAction(r, body))).value
    },
    { clusterMode: replicas > 1 },
  )
}
