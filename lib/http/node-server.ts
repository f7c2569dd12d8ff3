/** A Node HTTP server for a Hono app, with the request record (id, headers, access log) below Hono. */
import { createAdaptorServer } from '@hono/node-server'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { WebSocketServer } from 'ws'
import type { Logger } from '../core/logger.ts'
import { RecordedResponse, withRequestRecord, withUpgradeRecord } from './request-context.ts'

type Fetch = Parameters<typeof createAdaptorServer>[0]['fetch']

export function createNodeServer(fetch: Fetch, log: Logger, wss?: WebSocketServer): Server {
  const server = createAdaptorServer({
    fetch: wss ? (withUpgradeRecord(fetch as never, log) as Fetch) : fetch,
    websocket: wss ? { server: wss } : undefined,
    createServer: ((opts: object, listener: Parameters<typeof withRequestRecord>[0]) => createServer({ ...opts, ServerResponse: RecordedResponse as typeof ServerResponse }, withRequestRecord(listener, log))) as typeof createServer,
  }) as Server
  server.keepAliveTimeout = 65_000
  // @hono/node-server answers a refused upgrade itself (status and headers, no body)
  // only while it is the sole 'upgrade' listener; withUpgradeRecord writes the whole
  // response instead (websocket.ts refuseUpgrade)
  if (wss) server.on('upgrade', () => {})
  return server
}
