/**
 * The hybrids3 JSON API under /storage/ (seed 000): health, list buckets, list
 * objects, PUT/GET/HEAD/DELETE objects, presign. Auth is "Authorization: Bearer
 * <bucket key | master key>"; public-read buckets need none for GET/HEAD/list.
 */
import { AppError } from '../core/errors.ts'
import { iso } from '../core/ids.ts'
import type { Authenticated } from './auth.ts'
import { downloadResponse, objectHeaders, quoteEtag } from './http-object.ts'
import type { StorageRequest } from './http-request.ts'
import { MAX_KEYS } from './listing.ts'
import type { StorageService } from './service.ts'
import type { ObjectInfo } from './types.ts'

export type JsonCtx = { req: StorageRequest; s: StorageService; auth: Authenticated; baseUrl: string }

const methodNotAllowed = () => new AppError(405, 'method_not_allowed', 'method not allowed')

const toJsonObject = (o: ObjectInfo) => ({
  key: o.key,
  size: o.size,
  etag: o.etag,
  last_modified: iso(o.lastModified),
  content_type: o.contentType,
  expires_at: iso(o.expiresAt),
})

function intQuery(req: StorageRequest, name: string, def: number, min: number, max: number): number {
  const v = req.query.get(name)
  if (v === undefined || v === '') return def
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new AppError(400, 'invalid_request', `${name} must be an integer between ${min} and ${max}`)
  return Number(v)
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })

export async function handleJson(x: JsonCtx): Promise<Response> {
  const { req, s, auth } = x
  const c = auth.caller
  const m = req.method
  if (!req.bucket) {
    if (m !== 'GET') throw methodNotAllowed()
    return json({ buckets: s.listBuckets(c).map((b) => ({ name: b.name, public: b.publicRead, ttl_seconds: b.ttlSeconds, max_object_size: b.maxObjectSize, created_at: iso(b.createdAt) })) })
  }
  if (req.bucket === 'health' && !req.key) {
    if (m !== 'GET' && m !== 'HEAD') throw methodNotAllowed()
    return json({ status: 'ok' })
  }
  if (req.bucket === 'presign') {
    if (m !== 'POST') throw methodNotAllowed()
    const path = req.key ?? ''
    const slash = path.indexOf('/')
    if (slash <= 0 || slash === path.length - 1) throw new AppError(400, 'invalid_request', 'use POST /storage/presign/<bucket>/<key>')
    const expires = req.query.has('expires') ? intQuery(req, 'expires', 3600, 1, 604800) : undefined
    return json(s.presign(c, path.slice(0, slash), path.slice(slash + 1), { expires, baseUrl: x.baseUrl }))
  }
  const bucket = req.bucket
  const key = req.key ?? ''
  if (!key) {
    if (m !== 'GET' && m !== 'HEAD') throw methodNotAllowed()
    const prefix = req.query.get('prefix') ?? ''
    const page = await s.listObjects(c, bucket, { prefix, after: req.query.get('after') || undefined, maxKeys: intQuery(req, 'max-keys', MAX_KEYS, 0, MAX_KEYS) })
    return json({ bucket, prefix, objects: page.objects.map(toJsonObject), is_truncated: page.truncated, next_after: page.truncated ? page.last : null })
  }
  const cond = { ifMatch: req.header('if-match'), ifNoneMatch: req.header('if-none-match'), ifModifiedSince: req.header('if-modified-since'), ifUnmodifiedSince: req.header('if-unmodified-since') }
  switch (m) {
    case 'PUT': {
      const len = req.header('content-length')
      const contentLength = len !== undefined && /^\d+$/.test(len) ? Number(len) : undefined
      // compat(hybrids3 000): the type is detected from the content, whatever the client claims.
      const info = await s.putObject(c, bucket, key, req.body(), { declared: { contentLength, direct: contentLength === undefined ? undefined : { take: req.takeBody } } })
      return json({ bucket, ...toJsonObject(info) }, 200, { ETag: quoteEtag(info.etag), 'Last-Modified': new Date(info.lastModified).toUTCString() })
    }
    case 'GET':
      return downloadResponse(await s.getObject(c, bucket, key, { range: req.header('range'), conditions: cond }), { outgoing: req.outgoing, extraHeaders: req.responseHeaders })
    case 'HEAD': {
      const r = await s.headObject(c, bucket, key, cond)
      if (r.status === 304) return downloadResponse({ status: 304, info: r.info })
      return new Response(null, { status: 200, headers: objectHeaders(r.info) })
    }
    case 'DELETE':
      await s.deleteObject(c, bucket, key)
      return new Response(null, { status: 204 })
    default:
      throw methodNotAllowed()
  }
}
