/**
 * Per-request bookkeeping done below Hono, in Node's request listener: the
 * request id (echoed when the client sent a sane one), X-Request-Id and nosniff on
 * every response, and one access-log line when the response closes. Doing it here
 * rather than in a global Hono middleware keeps routes without middleware (health)
 * on @hono/node-server's fast path, and covers every response, 404s included.
 *
 * Surfaces then enter through surfaceEntry() (surface.ts), which exposes the
 * record as c.var (requestId, log, principal).
 * The query string is never logged: presigned URLs carry signatures there.
 */
import { ServerResponse, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import type { Context } from 'hono'
import { randomUUID } from 'node:crypto'
import type { Logger } from '../core/logger.ts'
import type { Principal } from '../core/principal.ts'
import type { AppEnv } from './types.ts'
import { closesConnection } from './continue.ts'
import { refuseUpgrade, wasAccepted } from './websocket.ts'

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/
const RECORD = Symbol.for('nestbox.request')

export type RequestRecord = { rid: string; t0: number; principal?: Principal['kind'] }
type Tagged = IncomingMessage & { [RECORD]?: RequestRecord }

function newRecord(sent: string | string[] | undefined): RequestRecord {
  return { rid: typeof sent === 'string' && REQUEST_ID_RE.test(sent) ? sent : randomUUID(), t0: performance.now() }
}

export const recordOf = (incoming: IncomingMessage | undefined): RequestRecord | undefined => (incoming as Tagged | undefined)?.[RECORD]

/** One line per request, formatted by hand: it runs for every request (rid and method are already safe tokens). */
function accessLog(log: Logger, req: IncomingMessage, status: number, rec: RequestRecord) {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const ms = Math.round((performance.now() - rec.t0) * 10) / 10
  const who = rec.principal && rec.principal !== 'anonymous' ? `,"principal":"${rec.principal}"` : ''
  log.infoFields('request', `"rid":"${rec.rid}","method":${JSON.stringify(req.method)},"path":${JSON.stringify(q < 0 ? url : url.slice(0, q))},"status":${status},"ms":${ms}${who}`)
}

/**
 * Closes the connection after a request whose body was left unsent or was taken (continue.ts).
 * Adds X-Request-Id and nosniff in writeHead rather than with setHeader up front:
 * a header set before writeHead sends Node down its slow path, which re-validates
 * every header of the response. Every response goes through writeHead (implicit
 * headers included); the route's own value of either header wins, as before.
 */
export class RecordedResponse extends ServerResponse {
  override writeHead(status: number, a?: unknown, b?: unknown): this {
    if (closesConnection(this.req)) this.shouldKeepAlive = false // Node then sends Connection: close
    const rec = recordOf(this.req)
    const hasReason = typeof a === 'string'
    const given = (hasReason ? b : a) as OutgoingHttpHeaders | undefined
    if (!rec || Array.isArray(given)) {
      if (rec && !this.hasHeader('x-request-id')) this.setHeader('X-Request-Id', rec.rid)
      if (rec && !this.hasHeader('x-content-type-options')) this.setHeader('X-Content-Type-Options', 'nosniff')
      return super.writeHead(status, a as string, b as OutgoingHttpHeaders)
    }
    const headers: OutgoingHttpHeaders = { 'X-Request-Id': rec.rid, 'X-Content-Type-Options': 'nosniff' }
    if (given)
      for (const k in given) {
        // Only names of these two lengths can clash; the route's own value replaces ours.
        const lk = k.length === 12 || k.length === 22 ? k.toLowerCase() : ''
        if (lk === 'x-request-id') delete headers['X-Request-Id']
        else if (lk === 'x-content-type-options') delete headers['X-Content-Type-Options']
        headers[k] = given[k]
      }
    return hasReason ? super.writeHead(status, a as string, headers) : super.writeHead(status, headers)
  }
}

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown

/** Wraps Node's request listener with the request record, the two headers and the access log. */
export function withRequestRecord(listener: Listener, log: Logger): Listener {
  return (req, res) => {
    const rec = newRecord(req.headers['x-request-id'])
    ;(req as Tagged)[RECORD] = rec
    if (!(res instanceof RecordedResponse)) {
      res.setHeader('X-Request-Id', rec.rid)
      res.setHeader('X-Content-Type-Options', 'nosniff')
    }
    const done = listener(req, res)
    // Routes answered synchronously (health) are logged at once, without a listener per request.
    if (res.writableEnded) accessLog(log, req, res.statusCode, rec)
    else res.once('close', () => accessLog(log, req, res.statusCode, rec))
    return done
  }
}

type Fetch = (request: Request, env: { incoming: IncomingMessage; outgoing?: ServerResponse }) => unknown

/**
 * Wraps the fetch callback for WebSocket upgrades, which reach Hono without a
 * ServerResponse: the record is made here and the headers go on the Response that
 * @hono/node-server turns into the upgrade's answer.
 */
export function withUpgradeRecord<F extends Fetch>(fetch: F, log: Logger): F {
  const upgrade = async (request: Request, env: { incoming: IncomingMessage; outgoing?: ServerResponse }) => {
    const rec = newRecord(env.incoming.headers['x-request-id'])
    ;(env.incoming as Tagged)[RECORD] = rec
    let res: unknown
    try {
      res = await fetch(request, env)
    } catch {
      res = new Response(null, { status: 500 })
    }
    const status = res instanceof Response ? res.status : 500
    if (res instanceof Response) {
      res.headers.set('X-Request-Id', rec.rid)
      res.headers.set('X-Content-Type-Options', 'nosniff')
    }
    const ok = wasAccepted(env.incoming)
    // not accepted: the whole response is written here (node-server.ts leaves refusals to us)
    if (!ok) await refuseUpgrade(env.incoming.socket, res instanceof Response ? res : new Response(null, { status: 500 }))
    accessLog(log, env.incoming, ok ? 101 : status, rec)
    return res
  }
  // Not async for ordinary requests: a route that answers synchronously must stay synchronous.
  return ((request: Request, env: { incoming: IncomingMessage; outgoing?: ServerResponse }) =>
    env.outgoing ? fetch(request, env) : upgrade(request, env)) as F
}

/** The request's record; requests that bypassed the Node listener (app.request in tests) get one here. */
export function ensureRecord(c: Context<AppEnv>): RequestRecord {
  const incoming = c.env?.incoming as Tagged | undefined
  const rec = recordOf(incoming)
  if (rec) return rec
  const made = newRecord(c.req.header('x-request-id'))
  if (incoming) incoming[RECORD] = made
  return made
}

/** Sets the request's principal (for routes and for the access log). */
export function setPrincipal(c: Context<AppEnv>, p: Principal) {
  c.set('principal', p)
  notePrincipal(c.env?.incoming, p)
}

/** The principal's kind for the access log (routes served below Hono call this directly). */
export function notePrincipal(incoming: IncomingMessage | undefined, p: Principal) {
  const rec = recordOf(incoming)
  if (rec) rec.principal = p.kind
}

/** c.var.requestId outside a surface's entry (error rendering of unrouted paths). */
export const requestIdOf = (c: Context<AppEnv>): string => c.get('requestId') ?? ensureRecord(c).rid
