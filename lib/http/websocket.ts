/**
 * WebSocket routes for every module. The upgrade request runs through the same
 * Hono app (request id, auth middleware, routing) as any other request; a route
 * that accepts it gets the raw `ws` socket. A route that throws or returns an
 * error before accepting answers the upgrade with that response, body included,
 * as the same URL answers without upgrade headers.
 */
import { upgradeWebSocket } from '@hono/node-server'
import type { Context } from 'hono'
import type { IncomingMessage } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { invalid } from '../core/errors.ts'
import type { AppEnv } from './types.ts'

/**
 * The WebSocket server behind one HTTP server. One each: @hono/node-server ties
 * it to its HTTP server (a listener per server, and close() when that server
 * closes), so a shared one would stop taking upgrades once any server closed.
 */
export const createWebSocketServer = () => new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 })

/** Upgrade requests a route accepted (the rest get their response written by refuseUpgrade). */
const accepted = new WeakSet<IncomingMessage>()
export const wasAccepted = (req: IncomingMessage) => accepted.has(req)

const NOT_FORWARDED = new Set(['connection', 'content-length', 'keep-alive', 'transfer-encoding', 'upgrade', 'set-cookie'])

/**
 * Answers an upgrade no route accepted with the app's whole response. (Left to
 * @hono/node-server, the answer would keep the status and headers but lose the
 * body: a Wrenn client would get a 404 without its error envelope.)
 */
export async function refuseUpgrade(socket: Duplex, res: Response): Promise<void> {
  const body = Buffer.from(await res.arrayBuffer())
  const lines = [`HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? ''}`, 'Connection: close', `Content-Length: ${body.length}`]
  res.headers.forEach((v, k) => {
    if (!NOT_FORWARDED.has(k)) lines.push(`${k}: ${v}`)
  })
  for (const c of res.headers.getSetCookie()) lines.push(`set-cookie: ${c}`)
  if (!socket.destroyed) socket.end(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), body]))
}

/** Takes the raw socket of an upgrade request over (a proxy carries it on); nothing else answers it then. */
export function takeOverUpgrade<E extends AppEnv>(c: Context<E>): Duplex {
  const incoming = (c.env as { incoming: IncomingMessage }).incoming
  accepted.add(incoming)
  return incoming.socket
}

export type OnSocket<E extends AppEnv = AppEnv> = (ws: WebSocket, c: Context<E>) => void

/** WebSocket servers of the routes that take smaller messages than the shared one (acceptWebSocket's maxPayload), one per limit. */
const limited = new Map<number, WebSocketServer>()

/**
 * A handler that upgrades to a WebSocket and calls `onSocket` with the raw ws
 * socket. Do auth and lookups before returning it so failures become statuses:
 *   r.get('/x', async (c) => { const cap = await s.get(...); return acceptWebSocket(c, (ws) => ...) })
 * `maxPayload`: the largest message this route takes (bytes; the shared server's 16 MiB otherwise). A bigger
 * one closes the connection with 1009, before it is buffered whole.
 */
export function acceptWebSocket<E extends AppEnv>(c: Context<E>, onSocket: OnSocket<E>, o: { maxPayload?: number } = {}): Promise<Response> {
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') throw invalid('this endpoint requires a WebSocket upgrade', 'websocket_required')
  if (o.maxPayload) {
    let wss = limited.get(o.maxPayload)
    if (!wss) limited.set(o.maxPayload, (wss = new WebSocketServer({ noServer: true, maxPayload: o.maxPayload })))
    // a client sends nothing past its upgrade request before the 101, so no bytes were read ahead of it
    const socket = takeOverUpgrade(c)
    wss.handleUpgrade((c.env as { incoming: IncomingMessage }).incoming, socket, Buffer.alloc(0), (ws) => onSocket(ws, c))
    return Promise.resolve(new Response(null, { status: 101 }))
  }
  const handler = upgradeWebSocket(() => ({
    onOpen: (_evt, ws) => onSocket(ws.raw as WebSocket, c),
  }))
  return (handler(c as never, async () => {}) as Promise<Response>).then((res) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
    if (res.status === 200 && incoming) accepted.add(incoming)
    return res
  })
}
