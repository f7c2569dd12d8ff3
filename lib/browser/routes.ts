/**
 * compat(stealthy-auto-browse 000): /stealthy-auto-browse/ — POST / (one action
 * or run_script), GET /screenshot/{browser,desktop}, the queue's health and
 * status (no auth), MCP at mcp/ (routes.mcp.ts). Every answer that used a replica sets the
 * INSTANCEID cookie naming it, and a request carrying it goes to that replica.
 */
import { Hono, type Context } from 'hono'
import { getCookie } from 'hono/cookie'
import { AppError, invalid } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { AppEnv } from '../http/types.ts'
import { runAction } from './actions/index.ts'
import type { BrowserAuth } from './auth.ts'
import { BROWSER_PREFIX, bearerOf } from './http.ts'
import { browserMcpRoutes } from './routes.mcp.ts'
import type { Replica } from './replica.ts'
import { parseResize, screenshot } from './screenshot.ts'
import type { BrowserPool } from './service.ts'

const COOKIE = 'INSTANCEID'
const cookiePath = `${BROWSER_PREFIX}/`

const stickTo = (id: string) => `${COOKIE}=${id}; Path=${cookiePath}; HttpOnly; SameSite=Lax`
const unstick = `${COOKIE}=; Path=${cookiePath}; Max-Age=0; HttpOnly; SameSite=Lax`

/** Runs `fn` on the caller's replica; a replaced or dead replica's error also drops the cookie, so the next request lands anywhere. */
async function onReplica<T>(c: Context<AppEnv>, pool: BrowserPool, fn: (r: Replica) => Promise<T>): Promise<{ value: T; cookie: string }> {
  const sticky = getCookie(c, COOKIE) ?? null
  try {
    const { replica, value } = await pool.run(sticky && /^br-[a-z0-9]{1,32}$/.test(sticky) ? sticky : null, fn)
    return { value, cookie: stickTo(replica.id) }
  } catch (e) {
    if (e instanceof AppError && (e.code === 'replica_replaced' || e.code === 'replica_died')) throw new AppError(e.status, e.code, e.message, { headers: { 'Set-Cookie': unstick } })
    throw e
  }
}

export function browserRoutes(pool: BrowserPool, auth: BrowserAuth, log: Logger) {
  const r = new Hono<AppEnv>()
  r.route('/', browserMcpRoutes(pool, auth, log))

  const act = async (c: Context<AppEnv>) => {
    await auth.check(bearerOf(c))
    let body: unknown
    try {
      body = await c.req.json()
    } catch {
      throw invalid('the body must be a JSON object with an action', 'invalid_json')
    }
    const { value, cookie } = await onReplica(c, pool, (rep) => runAction(rep, body))
    c.header('Set-Cookie', cookie)
    return c.json(value)
  }
  // full paths (mounted at /): a sub-app mounted at the prefix could not tell /stealthy-auto-browse/ from /stealthy-auto-browse
  r.post(`${BROWSER_PREFIX}/`, act)
  r.post(BROWSER_PREFIX, act)

  for (const kind of ['browser', 'desktop'] as const) {
    r.get(`${BROWSER_PREFIX}/screenshot/${kind}`, async (c) => {
      await auth.check(bearerOf(c))
      const want = parseResize(c.req.query())
      const { value, cookie } = await onReplica(c, pool, (rep) => screenshot(rep, kind, want))
      return c.body(new Uint8Array(value), 200, { 'Content-Type': 'image/png', 'Cache-Control': 'no-store', 'Set-Cookie': cookie })
    })
  }

  r.get(`${BROWSER_PREFIX}/__queue/health`, (c) => c.json({ status: 'ok' }))
  r.get(`${BROWSER_PREFIX}/__queue/status`, (c) => c.json(pool.status()))
  return r
}
