/** Assembles the one Hono app: shared middleware, then each surface at its prefix. */
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { identityRoutesV1 } from '../identity/routes.v1.ts'
import { VERSION } from '../core/version.ts'
import { tooLarge, notFound } from '../core/errors.ts'
import { apiKeyAuth } from './auth.ts'
import { createErrorHandler, plainError, wrennError } from './errors.ts'
import { healthRoutes } from './health.ts'
import { requestContext } from './middleware.ts'
import type { Services } from './services.ts'
import type { AppEnv } from './types.ts'

/** Routes that stream request bodies of their own size and must not be capped by the JSON limit. */
const STREAMING_UPLOADS = [/^\/storage\//, /\/files\/stream\/write$/]

export function createApp(s: Services & { startedAt: number; dbOk: () => boolean }) {
  const app = new Hono<AppEnv>()
  const limit = bodyLimit({ maxSize: s.config.http.bodyLimitMb * 1024 * 1024, onError: () => { throw tooLarge() } })

  app.use(requestContext(s.log))
  app.use(async (c, next) => (STREAMING_UPLOADS.some((re) => re.test(c.req.path)) ? next() : limit(c, next)))

  app.route('/', healthRoutes({ version: VERSION, startedAt: s.startedAt, dbOk: s.dbOk }))

  const v1 = new Hono<AppEnv>()
  v1.use(apiKeyAuth(s.identity))
  v1.route('/', identityRoutesV1(s.identity))
  app.route('/v1', v1)

  app.notFound(() => {
    throw notFound('no such endpoint', 'not_found')
  })
  app.onError(
    createErrorHandler([
      { prefix: '/v1/', render: wrennError },
      { prefix: '/auth/oauth/', render: wrennError },
      { prefix: '/api/', render: plainError },
    ]),
  )
  return app
}
export type App = ReturnType<typeof createApp>
