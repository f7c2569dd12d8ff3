/** compat(litellm): /health (authenticated, one real call per deployment) and /health/readiness. /health/liveliness is lib/http's. */
import { Hono } from 'hono'
import type { Logger } from '../core/logger.ts'
import { VERSION } from '../core/version.ts'
import type { AppEnv } from '../http/types.ts'
import { callerOf, guarded, sendJson } from './http.ts'
import type { GatewayService } from './service.ts'

export function gatewayHealthRoutes(g: GatewayService, o: { log: Logger }) {
  const r = new Hono<AppEnv>()
  r.get('/health', guarded(g, o.log, 'openai', async (c) => sendJson(c, 200, await g.health(await callerOf(c, g)))))
  r.get('/health/readiness', guarded(g, o.log, 'openai', async (c) => {
    const ok = await g.ready()
    return sendJson(c, ok ? 200 : 503, { status: ok ? 'healthy' : 'unhealthy', db: ok ? 'connected' : 'disconnected', cache: null, litellm_version: `nestbox-${VERSION}`, success_callbacks: [] })
  }))
  return r
}
