/** Every gateway surface, for lib/http/app.ts to mount at the root in one line. */
import { Hono } from 'hono'
import type { Logger } from '../core/logger.ts'
import type { AppEnv } from '../http/types.ts'
import { gatewayAnthropicRoutes } from './routes.anthropic.ts'
import { gatewayOpenAIRoutes } from './routes.openai.ts'
import type { GatewayService } from './service.ts'

export function gatewayRoutes(g: GatewayService, o: { log: Logger; maxBodyBytes: number }) {
  const r = new Hono<AppEnv>()
  r.route('/', gatewayOpenAIRoutes(g, o))
  r.route('/', gatewayAnthropicRoutes(g, o))
  return r
}
