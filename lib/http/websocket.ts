/**
 * WebSocket routes for every module. The upgrade request runs through the same
 * Hono app (request id, auth middleware, routing) as any other request; a route
 * that accepts it gets the raw `ws` socket. A route that throws or returns an
 * error before accepting answers the upgrade with that status.
 */
import { upgradeWebSocket } from '@hono/node-server'
import type { Context } from 'hono'
import type { WebSocket } from 'ws'
import { invalid } from '../core/errors.ts'
import type { AppEnv } from './types.ts'

export type OnSocket<E extends AppEnv = AppEnv> = (ws: WebSocket, c: Context<E>) => void

/**
 * A handler that upgrades to a WebSocket and calls `onSocket` with the raw ws
 * socket. Do auth and lookups before returning it so failures become statuses:
 *   r.get('/x', async (c) => { const cap = await s.get(...); return acceptWebSocket(c, (ws) => ...) })
 */
export function acceptWebSocket<E extends AppEnv>(c: Context<E>, onSocket: OnSocket<E>): Promise<Response> {
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') throw invalid('this endpoint requires a WebSocket upgrade', 'websocket_required')
  const handler = upgradeWebSocket(() => ({
    onOpen: (_evt, ws) => onSocket(ws.raw as WebSocket, c),
  }))
  return handler(c as never, async () => {}) as Promise<Response>
}
