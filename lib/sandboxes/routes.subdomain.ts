/** WebSocket upgrades to a sandbox's host, taken over from the app (plain HTTP to those hosts is served before Hono: proxy.ts). */
import type { MiddlewareHandler } from 'hono'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AppEnv } from '../http/types.ts'
import { takeOverUpgrade } from '../http/websocket.ts'
import type { SubdomainProxy } from './proxy.ts'

export function sandboxHostUpgrades(proxy: SubdomainProxy): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!proxy.isSandboxHost(c.req.header('host'))) return next()
    const env = c.env as { incoming: IncomingMessage; outgoing?: ServerResponse }
    if (!env.incoming.headers.upgrade) {
      // only when the direct route did not take it (it always does when the server is nestbox's own)
      await proxy.serveHttp(env.incoming, env.outgoing!)
      return RESPONSE_ALREADY_SENT
    }
    await proxy.serveUpgrade(env.incoming, takeOverUpgrade(c), Buffer.alloc(0))
    return new Response(null, { status: 101 })
  }
}
