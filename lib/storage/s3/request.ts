/** What S3 handlers read from a request: metadata, stored headers, preconditions, copy sources, integers. */
import { AppError, invalid } from '../../core/errors.ts'
import type { StorageRequest } from '../http-request.ts'
import type { Authenticated } from '../auth.ts'
import type { StorageService } from '../service.ts'
import { STORED_HEADERS, type Conditions } from '../types.ts'
import { checkVersionId } from './versions.ts'

export type S3Ctx = { req: StorageRequest; s: StorageService; auth: Authenticated; requestId: string; baseUrl: string }

const MAX_META_BYTES = 2048

/** x-amz-meta-* headers as a lowercase-name map; S3's 2 KB limit applies. */
export function userMeta(req: StorageRequest): Record<string, string> {
  const out: Record<string, string> = {}
  let bytes = 0
  for (const name of req.headerNames()) {
    if (!name.startsWith('x-amz-meta-')) continue
    const k = name.slice('x-amz-meta-'.length)
    const v = req.header(name) ?? ''
    out[k] = v
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v)
  }
  if (bytes > MAX_META_BYTES) throw new AppError(400, 'MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size (${MAX_META_BYTES} bytes).`)
  return out
}

/** Standard headers stored with the object and returned on reads; aws-chunked framing is not part of the object. */
export function storedHeaders(req: StorageRequest): Record<string, string> {
  const out: Record<string, string> = {}
  for (const n of STORED_HEADERS) {
    let v = req.header(n)
    if (n === 'content-encoding' && v) v = v.split(',').map((s) => s.trim()).filter((s) => s && s !== 'aws-chunked').join(', ')
    if (v) out[n] = v
  }
  return out
}

export function conditions(req: StorageRequest, prefix = ''): Conditions {
  return {
    ifMatch: req.header(`${prefix}if-match`),
    ifNoneMatch: req.header(`${prefix}if-none-match`),
    ifModifiedSince: req.header(`${prefix}if-modified-since`),
    ifUnmodifiedSince: req.header(`${prefix}if-unmodified-since`),
  }
}

/** x-amz-copy-source: "[/]bucket/key[?versionId=…]", URL-encoded. */
export function copySource(req: StorageRequest): { bucket: string; key: string } | null {
  const raw = req.header('x-amz-copy-source')
  if (raw === undefined) return null
  const [path, qs] = raw.split('?')
  if (qs) {
    const m = /^versionId=(.*)$/.exec(qs)
    if (!m) throw invalid('x-amz-copy-source may only carry a versionId query', 'InvalidArgument')
    if (m[1] !== '') checkVersionId(decodeURIComponent(m[1]))
  }
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    throw invalid('x-amz-copy-source is not valid percent-encoding', 'InvalidArgument')
  }
  if (decoded.startsWith('/')) decoded = decoded.slice(1)
  const slash = decoded.indexOf('/')
  if (slash <= 0 || slash === decoded.length - 1) throw invalid('Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'InvalidArgument')
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) }
}

/** An integer query parameter within bounds, or the default. */
export function intParam(req: StorageRequest, name: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = req.query.get(name)
  if (v === undefined || v === '') return def
  if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) throw invalid(`Argument ${name} must be an integer between ${min} and ${max}`, 'InvalidArgument')
  return Number(v)
}

/** An integer header within bounds, or the default. */
export function intParamHeader(req: StorageRequest, name: string, def: number, min: number, max: number): number {
  const v = req.header(name)
  if (v === undefined || v === '') return def
  if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) throw invalid(`${name} must be an integer between ${min} and ${max}`, 'InvalidArgument')
  return Number(v)
}
