import { createMiddleware } from 'hono/factory'
import { randomUUID } from 'node:crypto'
import type { Logger } from '../core/logger.ts'
import { anonymous } from '../core/principal.ts'
import type { AppEnv } from './types.ts'

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Request id (echoed when the client sent a sane one), nosniff, a request-scoped
 * logger, an anonymous principal until auth says otherwise, and one access log
 * line per request. The query string is never logged: presigned URLs carry
 * signatures there.
 */
export function requestContext(log: Logger) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const t0 = performance.now()
    const sent = c.req.header('x-request-id')
    const rid = sent && REQUEST_ID_RE.test(sent) ? sent : randomUUID()
    c.set('requestId', rid)
    c.set('log', log.child({ rid }))
    c.set('principal', anonymous)
    try {
      await next()
    } finally {
      c.res.headers.set('X-Request-Id', rid)
      c.res.headers.set('X-Content-Type-Options', 'nosniff')
      const p = c.var.principal
      log.info('request', {
        rid,
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - t0) * 10) / 10,
        principal: p.kind === 'anonymous' ? undefined : p.kind,
      })
    }
  })
}
