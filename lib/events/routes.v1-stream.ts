/** Wrenn surface (seed 003) of live events: /v1/events/stream and /v1/admin/events/stream (Server-Sent Events). */
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { Hono, type Context } from 'hono'
import type { ServerResponse } from 'node:http'
import { invalid } from '../core/errors.ts'
import type { AppEnv } from '../http/types.ts'
import type { EventLog, StreamSink } from './service.ts'

function lastEventId(c: Context<AppEnv>): number | null {
  const raw = c.req.header('last-event-id') ?? c.req.query('last_event_id')
  if (raw === undefined || raw === '') return null
  if (!/^\d{1,15}$/.test(raw)) throw invalid('Last-Event-ID must be an event id from this stream', 'invalid_last_event_id')
  return Number(raw)
}

function sinkOf(out: ServerResponse): StreamSink {
  return {
    write: (s) => void (out.writableEnded || out.destroyed || out.write(s)),
    gone: () => out.destroyed,
    buffered: () => out.writableLength + (out.socket?.writableLength ?? 0),
    // with chunked encoding the bytes wait in the socket, not in the response: either one's drain counts
    drained: () =>
      new Promise<void>((res) => {
        const sock = out.socket
        if (out.destroyed || !sock || (out.writableLength === 0 && sock.writableLength === 0)) return res()
        const done = () => {
          sock.off('drain', done)
          out.off('drain', done).off('close', done)
          res()
        }
        sock.on('drain', done)
        out.on('drain', done).on('close', done)
      }),
    // a client past its buffer is cut off at once: ending politely would wait for it to read
    close: () => out.destroy(),
  }
}

export function eventStreamRoutesV1(events: EventLog) {
  const r = new Hono<AppEnv>()
  const stream = (scope: 'team' | 'admin') => async (c: Context<AppEnv>) => {
    const filter = events.filterFor(c.get('principal'), scope, c.req.query('types'))
    const from = lastEventId(c)
    const out = c.env.outgoing as ServerResponse
    out.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    let stop: (() => void) | undefined
    out.once('close', () => stop?.())
    try {
      stop = await events.open(filter, sinkOf(out), from)
    } catch (err) {
      c.get('log').error('event stream failed', { err })
      out.destroy()
    }
    if (out.destroyed) stop?.()
    return RESPONSE_ALREADY_SENT
  }
  r.get('/events/stream', stream('team'))
  r.get('/admin/events/stream', stream('admin'))
  return r
}
