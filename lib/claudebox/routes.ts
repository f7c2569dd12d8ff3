/** One claudebox surface's routes, for lib/http/app.ts to mount at /claudebox or /claudebox-zai in one line. */
import { Hono } from 'hono'
import type { Logger } from '../core/logger.ts'
import type { AppEnv } from '../http/types.ts'
import { claudeboxRoutes } from './routes.claudebox.ts'
import { claudeboxMcpRoutes } from './routes.mcp.ts'
import { claudeboxOpenAIRoutes } from './routes.openai.ts'
import type { Claudebox } from './service.ts'

export function claudeboxSurface(cb: Claudebox, log: Logger) {
  const r = new Hono<AppEnv>()
  r.route('/', claudeboxRoutes(cb))
  r.route('/openai/v1', claudeboxOpenAIRoutes(cb))
  r.route('/', claudeboxMcpRoutes(cb, log))
  return r
}
