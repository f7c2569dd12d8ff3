/**
 * How a request enters a surface (/v1, /api, /auth, /storage): request id,
 * request logger and principal on c.var, the JSON body limit for requests that
 * carry a body (except paths that stream bodies under limits of their own), then
 * the surface's authenticator.
 *
 * A surface's routes are mounted with withEntry(), which puts the entry in front
 * of each route's own handler instead of registering it as Hono middleware. A
 * route then has a single handler, and Hono runs a single handler directly: when
 * the entry and the route can answer without I/O (a cached API key, a cached
 * profile) the response is written synchronously, with no middleware promises.
 */
import { Hono, type Context, type MiddlewareHandler, type Next } from 'hono'
import type { Logger } from '../core/logger.ts'
import { anonymous } from '../core/principal.ts'
import { ensureRecord } from './request-context.ts'
import type { AppEnv } from './types.ts'

/** Resolves the request's principal (with setPrincipal); returns a promise only when it has to wait for I/O. */
export type Authenticator = (c: Context<AppEnv>) => void | Promise<void>

/** Runs `next` after the entry work and passes its result through (a Response when it wraps a route's handler). */
export type Entry = <T>(c: Context<AppEnv>, next: () => T) => T | Promise<Awaited<T>>

type BodyLimit = { limit: MiddlewareHandler; skip: RegExp[] }

export function surfaceEntry(log: Logger, o: { bodyLimit?: BodyLimit; authenticate?: Authenticator } = {}): Entry {
  const { bodyLimit, authenticate } = o
  const authThen = <T>(c: Context<AppEnv>, next: () => T): T | Promise<Awaited<T>> => {
    const waiting = authenticate?.(c)
    return waiting ? (waiting.then(next) as Promise<Awaited<T>>) : next()
  }
  return (c, next) => {
    // A sub-app's own middleware is wrapped too (storage's): the request enters at the first handler only.
    if (c.get('requestId') !== undefined) return next()
    const rec = ensureRecord(c)
    c.set('requestId', rec.rid)
    c.set('log', log.child({ rid: rec.rid }))
    c.set('principal', anonymous)
    if (!bodyLimit) return authThen(c, next)
    const h = c.env?.incoming?.headers
    const cl = h ? h['content-length'] : c.req.header('content-length')
    const te = h ? h['transfer-encoding'] : c.req.header('transfer-encoding')
    // Hono's bodyLimit reads the body stream, which forces a full Request even for a GET: only run it when there is a body.
    if (((!cl || cl === '0') && !te) || bodyLimit.skip.some((re) => re.test(c.req.path))) return authThen(c, next)
    return bodyLimit.limit(c, (() => authThen(c, next)) as unknown as Next) as Promise<never>
  }
}

/** The surface's entry as ordinary Hono middleware (an app whose every route is behind it). */
export const entryMiddleware = (entry: Entry): MiddlewareHandler<AppEnv> => (c, next) => entry(c, next)

/** A copy of `routes` with `entry` in front of every handler, to mount with app.route(prefix, …). Errors go to the app's onError. */
export function withEntry(routes: Hono<AppEnv>, entry: Entry): Hono<AppEnv> {
  const out = new Hono<AppEnv>()
  for (const r of routes.routes) {
    const handler = r.handler as MiddlewareHandler<AppEnv>
    const entered: MiddlewareHandler<AppEnv> = (c, next) => entry(c, () => handler(c, next))
    if (r.method === 'ALL') out.all(r.path, entered)
    else out.on(r.method, r.path, entered)
  }
  return out
}
