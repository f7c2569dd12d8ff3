/** Every gateway surface, for lib/http/app.ts to mount at the root in one line. */
import { Hono } from 'hono'
import type { Logger } from '../core/logger.ts'
import type { AppEnv } from '../http/types.ts'
import { anthropicPassthroughRoutes, gatewayAnthropicRoutes } from './routes.anthropic.ts'
import { gatewayOpenAIRoutes } from './routes.openai.ts'
import type { Gateway } from './setup.ts'
import { gatewayKeyRoutes } from './routes.keys.ts'
import { gatewayHealthRoutes } from './routes.health.ts'

export function gatewayRoutes(g: Gateway, o: { log: Logger; maxBodyBytes: number }) {
  const r = new Hono<AppEnv>()
  r.route('/', gatewayOpenAIRoutes(g, o))
  r.route('/', gatewayAnthropicRoutes(g, o))
  r.route('/', gatewayKeyRoutes(g, g.budgets, o))
  r.route('/', gatewayHealthRoutes(g, o))
  r.route('/', anthropicPassthroughRoutes(g, o))
  return r
}
