/**
 * Storage's HTTP entry points: the /storage sub-app (JSON API, S3 API and MCP
 * behind one prefix, told apart by isS3Request) and the S3-only app served at
 * the root of the optional dedicated listener.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono'
import { isAppError } from '../core/errors.ts'
import type { AppEnv } from '../http/types.ts'
import { authenticate } from './auth.ts'
import { s3ErrorResponse, surfaceOf } from './errors.ts'
import { isS3Request, parseStorageRequest, withHeaders } from './http-request.ts'
import { handleJson } from './routes.json.ts'
import { handleS3 } from './s3/routes.ts'
import type { StorageService } from './service.ts'

/** publicUrl: the base URL for links (publicUrl or a tunnel's), '' = the host the client used. */
export type MountOptions = { publicUrl: () => string; virtualHostDomain: string }

const origin = (c: Context) => {
  const u = new URL(c.req.url)
  return `${u.protocol}//${c.req.header('host') ?? u.host}`
}

async function serveS3(c: Context<AppEnv>, s: StorageService, req: ReturnType<typeof parseStorageRequest>, baseUrl: string) {
  const auth = authenticate(req, s, Date.now())
  req.responseHeaders['x-amz-request-id'] = c.var.requestId
  const signed = auth.sig?.presigned ? withHeaders(req, auth.sig.hoisted) : req
  const res = await handleS3({ req: signed, s, auth, requestId: c.var.requestId, baseUrl })
  res.headers.set('x-amz-request-id', c.var.requestId)
  return res
}

/**
 * A request answered before its body was read (an early 413, 403, ...) must not
 * leave the connection in use: the client may still be sending. Close it.
 */
const closeUnreadBodies: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next()
  const incoming = c.env?.incoming
  const hasBody = incoming && (Number(incoming.headers['content-length'] ?? 0) > 0 || incoming.headers['transfer-encoding'] !== undefined)
  if (hasBody && !incoming.complete) {
    c.res = new Response(c.res.body, { status: c.res.status, headers: c.res.headers })
    c.res.headers.set('Connection', 'close')
  }
}

/** Mounted at /storage on the main listener. */
export function storageRoutes(s: StorageService, o: MountOptions) {
  const r = new Hono<AppEnv>()
  r.use(closeUnreadBodies)
  r.all('*', async (c) => {
    const req = parseStorageRequest(c, { prefix: '/storage', virtualHostDomain: o.virtualHostDomain })
    const s3 = isS3Request(req)
    surfaceOf.set(c.req.raw, s3 ? 's3' : 'json')
    const baseUrl = (o.publicUrl().replace(/\/$/, '') || origin(c)) + '/storage'
    if (s3) return serveS3(c, s, req, baseUrl)
    if (req.bucket === 'mcp' && !req.key) {
      const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1]
      // The MCP SDK (and zod) load with the first MCP request, not at start-up.
      const { handleMcp } = await import('./routes.mcp.ts')
      return handleMcp(s, c.req.raw, { bearer, rootUrl: baseUrl.slice(0, -'/storage'.length) })
    }
    const auth = authenticate(req, s, Date.now())
    return handleJson({ req, s, auth, baseUrl })
  })
  return r
}

/** The whole app of the dedicated S3 listener: S3 at the root, XML errors. */
export function s3RootRoutes(s: StorageService, o: MountOptions, middleware: MiddlewareHandler<AppEnv>) {
  const app = new Hono<AppEnv>()
  app.use(middleware)
  app.use(closeUnreadBodies)
  app.all('*', async (c) => {
    const req = parseStorageRequest(c, { prefix: '', virtualHostDomain: o.virtualHostDomain })
    return serveS3(c, s, req, o.publicUrl().replace(/\/$/, '') || origin(c))
  })
  app.onError((err, c) => {
    if (isAppError(err)) return s3ErrorResponse(c, err, c.req.path)
    c.var.log?.error('unhandled error', { err })
    return s3ErrorResponse(c, { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.', name: 'AppError' } as never, c.req.path)
  })
  return app
}
