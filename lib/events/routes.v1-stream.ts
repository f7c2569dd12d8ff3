/**
 * Wrenn surface (seed 003) of live events: /v1/events/stream and /v1/admin/events/stream
 * (Server-Sent Events). A stream is held for as long as its client stays, so a GET
 * that carries valid credentials is served on Node's request and response
 * (eventStreamDirect), below Hono: Hono's request, context, router and response
 * objects cost several KiB per connection, which showed per client with a thousand
 * of them. Every other request (bad credentials, bad parameters, app.request in
 * tests) reaches the Hono route, which answers errors in the Wrenn envelope.
 */
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { Hono, type Context } from 'hono'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { invalid } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { Principal } from '../core/principal.ts'
import type { DirectRoute } from '../http/node-server.ts'
import { notePrincipal, recordOf } from '../http/request-context.ts'
import type { AppEnv } from '../http/types.ts'
import type { EventLog, StreamFilter, StreamSink } from './service.ts'

const PATHS = new Map<string, 'team' | 'admin'>([['/v1/events/stream', 'team'], ['/v1/admin/events/stream', 'admin']])
const HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' }

function lastEventId(raw: string | undefined): number | null {
  if (raw === undefined || raw === '') return null
  if (!/^\d{1,15}$/.test(raw)) throw invalid('Last-Event-ID must be an event id from this stream', 'invalid_last_event_id')
  return Number(raw)
}

/** A response as the event log's sink; one object per client, its methods shared. */
class ResponseSink implements StreamSink {
  readonly out: ServerResponse
  constructor(out: ServerResponse) {
    this.out = out
  }
  write(s: string) {
    if (!this.out.writableEnded && !this.out.destroyed) this.out.write(s)
  }
  gone() {
    return this.out.destroyed
  }
  buffered() {
    return this.out.writableLength + (this.out.socket?.writableLength ?? 0)
  }
  // with chunked encoding the bytes wait in the socket, not in the response: either one's drain counts
  drained() {
    const out = this.out
    return new Promise<void>((res) => {
      const sock = out.socket
      if (out.destroyed || !sock || (out.writableLength === 0 && sock.writableLength === 0)) return res()
      const done = () => {
        sock.off('drain', done)
        out.off('drain', done).off('close', done)
        res()
      }
      sock.on('drain', done)
      out.on('drain', done).on('close', done)
    })
  }
  // a client past its buffer is cut off at once: ending politely would wait for it to read
  close() {
    this.out.destroy()
  }
}

/** Sends the headers and streams the log to `out` until it closes. */
async function serve(events: EventLog, out: ServerResponse, filter: StreamFilter, from: number | null, log: () => Logger) {
  out.writeHead(200, HEADERS)
  let stop: (() => void) | undefined
  out.once('close', () => stop?.())
  try {
    stop = await events.open(filter, new ResponseSink(out), from)
  } catch (err) {
    log().error('event stream failed', { err })
    out.destroy()
  }
  if (out.destroyed) stop?.()
}

export function eventStreamRoutesV1(events: EventLog) {
  const r = new Hono<AppEnv>()
  const stream = (scope: 'team' | 'admin') => async (c: Context<AppEnv>) => {
    const filter = events.filterFor(c.get('principal'), scope, c.req.query('types'))
    const from = lastEventId(c.req.header('last-event-id') ?? c.req.query('last_event_id'))
    await serve(events, c.env.outgoing as ServerResponse, filter, from, () => c.get('log'))
    return RESPONSE_ALREADY_SENT
  }
  r.get('/events/stream', stream('team'))
  r.get('/admin/events/stream', stream('admin'))
  return r
}

/**
 * The streams' GETs on Node's request (see the file's comment): takes the request when
 * its credentials resolve and its parameters are valid; anything else goes to Hono.
 */
export function eventStreamDirect(events: EventLog, principalOf: (h: IncomingHttpHeaders) => Principal | null | Promise<Principal | null>, log: Logger): DirectRoute {
  const start = (req: IncomingMessage, res: ServerResponse, scope: 'team' | 'admin', query: URLSearchParams | null, p: Principal | null): boolean => {
    if (!p) return false
    let filter: StreamFilter, from: number | null
    try {
      filter = events.filterFor(p, scope, query?.get('types') ?? undefined)
      // Node joins a repeated header it does not know into one string
      from = lastEventId((req.headers['last-event-id'] as string | undefined) ?? query?.get('last_event_id') ?? undefined)
    } catch {
      return false
    }
    notePrincipal(req, p)
    const logOf = () => log.child({ rid: recordOf(req)?.rid })
    serve(events, res, filter, from, logOf).catch((err) => (logOf().error('event stream failed', { err }), res.destroy()))
    return true
  }
  return (req, res) => {
    if (req.method !== 'GET') return false
    const url = req.url ?? ''
    const q = url.indexOf('?')
    const scope = PATHS.get(q < 0 ? url : url.slice(0, q))
    if (!scope) return false
    const query = q < 0 ? null : new URLSearchParams(url.slice(q + 1))
    const p = principalOf(req.headers)
    return p instanceof Promise ? p.then((x) => start(req, res, scope, query, x)) : start(req, res, scope, query, p)
  }
}
