/** The browser surface's wire basics, shared by its route files: prefix, bearer, error envelope. */
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ErrorRenderer } from '../http/errors.ts'
import type { AppEnv } from '../http/types.ts'

export const BROWSER_PREFIX = '/stealthy-auto-browse'

/** compat(stealthy-auto-browse 000): errors in the original's envelope {success:false, timestamp, error}. */
export const browserError: ErrorRenderer = (c, e) => c.json({ success: false, timestamp: Date.now() / 1000, error: e.message }, e.status as ContentfulStatusCode)

export const bearerOf = (c: Context<AppEnv>) => {
  const h = c.req.header('authorization')
  return h && /^bearer\s+/i.test(h) ? h.replace(/^bearer\s+/i, '').trim() : undefined
}
