/** A Node HTTP server for a Hono app, with the request record (id, headers, access log) below Hono. */
import { createAdaptorServer } from '@hono/node-server'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { WebSocketServer } from 'ws'
import type { Logger } from '../core/logger.ts'
import { onCheckContinue } from './continue.ts'
import { RecordedResponse, withRequestRecord, withUpgradeRecord } from './request-context.ts'

type Fetch = Parameters<typeof createAdaptorServer>[0]['fetch']
type Listener = Parameters<typeof withRequestRecord>[0]

/**
 * A route served on Node's request and response, before Hono: true when it took the
 * request, false (or a promise of it) to hand the request on to Hono unanswered. For
 * long-held requests (event streams), whose per-request cost in Hono shows per client.
 */
export type DirectRoute = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>

function withDirect(listener: Listener, direct: DirectRoute): Listener {
  return (req, res) => {
    const took = direct(req, res)
    if (took === true) return
    if (took === false) return listener(req, res)
    return took.then((t) => t || listener(req, res), () => listener(req, res))
  }
}

export function createNodeServer(fetch: Fetch, log: Logger, wss?: WebSocketServer, direct?: DirectRoute): Server {
  let top: Listener | undefined
  const server = createAdaptorServer({
    fetch: wss ? (withUpgradeRecord(fetch as never, log) as Fetch) : fetch,
    websocket: wss ? { server: wss } : undefined,
    createServer: ((opts: object, listener: Listener) =>
      createServer({ ...opts, ServerResponse: RecordedResponse as typeof ServerResponse }, (top = withRequestRecord(direct ? withDirect(listener, direct) : listener, log)))) as typeof createServer,
  }) as Server
  // Expect: 100-continue reaches the same listener; large PUTs get their 100 when their body is read (continue.ts)
  server.on('checkContinue', onCheckContinue((req, res) => top!(req, res)))
  server.keepAliveTimeout = 65_000
  // @hono/node-server answers a refused upgrade itself (status and headers, no body)
  // only while it is the sole 'upgrade' listener; withUpgradeRecord writes the whole
  // response instead (websocket.ts refuseUpgrade)
  if (wss) server.on('upgrade', () => {})
  return server
}
