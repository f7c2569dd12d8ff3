import { createMiddleware } from 'hono/factory'
import { randomUUID } from 'node:crypto'
import type { Logger } from '../core/logger.ts'
import { anonymous } from '../core/principal.ts'
import type { AppEnv } from './types.ts'

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Used by servers without the Node-level request record (lib/http/request-context.ts).
 * Request id (echoed when the client sent a sane one), nosniff, a request-scoped
 * logger, an anonymous principal until auth says otherwise, and one access log
 * line per request. The query string is never logged: presigned URLs carry
 * signatures there.
 *
 * This runs on every request, so it avoids the costly paths: the two headers go
 * onto Node's ServerResponse, which merges them into whatever response is written
 * (touching `c.res.headers` would turn @hono/node-server's lightweight response
 * into a full one); the request id header is read from Node's parsed headers; the
 * principal is read with c.get (c.var builds an object per access).
 */
export function requestContext(log: Logger) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const t0 = performance.now()
    const incoming = c.env?.incoming
    const sent = incoming ? incoming.headers['x-request-id'] : c.req.header('x-request-id')
    const rid = typeof sent === 'string' && REQUEST_ID_RE.test(sent) ? sent : randomUUID()
    const outgoing = c.env?.outgoing
    if (outgoing) {
      outgoing.setHeader('X-Request-Id', rid)
      outgoing.setHeader('X-Content-Type-Options', 'nosniff')
    }
    c.set('requestId', rid)
    c.set('log', log.child({ rid }))
    c.set('principal', anonymous)
    try {
      await next()
    } finally {
      if (!outgoing) {
        // In-memory app.request() calls and WebSocket upgrades have no ServerResponse.
        c.res.headers.set('X-Request-Id', rid)
        c.res.headers.set('X-Content-Type-Options', 'nosniff')
      }
      const p = c.get('principal')
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
