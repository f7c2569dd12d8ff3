/**
 * Storage error envelopes. S3 requests get S3's XML <Error> with S3's codes;
 * JSON API requests get {"error": message} — and, compat(hybrids3 000), any
 * authorisation failure is the same 404 as a missing bucket or key, so
 * existence never leaks.
 */
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { AppError } from '../core/errors.ts'
import { parseStorageRequest, isS3Request } from './http-request.ts'
import { errorXml, S3Error } from './s3/xml.ts'

/** The surface chosen for a request, remembered so the error handler renders the same one. */
export const surfaceOf = new WeakMap<Request, 's3' | 'json'>()

const S3_CODE_BY_STATUS: Record<number, string> = {
  400: 'InvalidRequest',
  401: 'AccessDenied',
  403: 'AccessDenied',
  404: 'NoSuchKey',
  405: 'MethodNotAllowed',
  409: 'OperationAborted',
  411: 'MissingContentLength',
  412: 'PreconditionFailed',
  413: 'EntityTooLarge',
  416: 'InvalidRange',
  429: 'SlowDown',
  501: 'NotImplemented',
  503: 'ServiceUnavailable',
}

export function s3ErrorResponse(c: Context, e: AppError, resource: string): Response {
  const code = /^[A-Z][A-Za-z0-9]+$/.test(e.code) ? e.code : (S3_CODE_BY_STATUS[e.status] ?? (e.status >= 500 ? 'InternalError' : 'InvalidRequest'))
  const rid = (c.var as { requestId?: string }).requestId ?? ''
  const body = e.status === 304 ? null : errorXml(code, e.message, resource, rid, e instanceof S3Error ? e.fields : {})
  return new Response(body, { status: e.status, headers: { 'Content-Type': 'application/xml', 'x-amz-request-id': rid } })
}

export function jsonErrorResponse(c: Context, e: AppError): Response {
  if (e.status === 401 || e.status === 403 || e.status === 404) return c.json({ error: 'not found', code: 'not_found' }, 404)
  return c.json({ error: e.message, code: e.code }, e.status as ContentfulStatusCode)
}

/** The renderer registered for /storage in SURFACE_ERRORS. */
export function storageError(c: Context, e: AppError): Response {
  let kind = surfaceOf.get(c.req.raw)
  if (!kind) {
    try {
      kind = isS3Request(parseStorageRequest(c, { prefix: '/storage', virtualHostDomain: '' })) ? 's3' : 'json'
    } catch {
      kind = 'json'
    }
  }
  return kind === 's3' ? s3ErrorResponse(c, e, c.req.path) : jsonErrorResponse(c, e)
}
