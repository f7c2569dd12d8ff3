/** Object keys, rows ↔ ObjectInfo, ETags and preconditions: rules both surfaces share. */
import { AppError, invalid } from '../core/errors.ts'
import { isAlgorithm } from './bytes/checksums.ts'
import type { StorageObjectRow } from './tables.ts'
import { parseStoredTags } from './tags.ts'
import type { Conditions, ObjectInfo } from './types.ts'

const MAX_KEY_BYTES = 1024

/** Rejects keys S3 would refuse and path traversal ("." / ".." segments, backslashes, NUL). */
export function checkKey(key: string): string {
  if (!key) throw invalid('an object key is required', 'InvalidArgument')
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new AppError(400, 'KeyTooLongError', 'Your key is too long')
  if (key.includes('\0') || key.includes('\\') || key.split('/').some((s) => s === '.' || s === '..'))
    throw invalid('object keys must not contain "." or ".." path segments, backslashes or NUL', 'InvalidArgument')
  return key
}

export function toInfo(r: StorageObjectRow): ObjectInfo {
  return {
    bucket: r.bucket,
    key: r.key,
    size: r.size,
    etag: r.etag,
    contentType: r.content_type,
    lastModified: r.last_modified,
    expiresAt: r.expires_at,
    meta: JSON.parse(r.meta),
    headers: JSON.parse(r.headers),
    checksum: r.checksum && isAlgorithm(r.checksum_algorithm) ? { algorithm: r.checksum_algorithm, value: r.checksum, type: r.checksum_type === 'COMPOSITE' ? 'COMPOSITE' : 'FULL_OBJECT' } : null,
    partsCount: r.parts_count,
    tags: parseStoredTags(r.tags),
  }
}

export type PartLayout = Array<{ partNumber: number; size: number; checksum: string | null }>

/**
 * The parts an object was completed from; one part (the whole object) when it
 * was uploaded in one piece; null for a multipart object completed before
 * layouts were kept.
 */
export function partLayout(r: StorageObjectRow): PartLayout | null {
  if (!r.parts) return r.parts_count ? null : [{ partNumber: 1, size: r.size, checksum: null }]
  return (JSON.parse(r.parts) as Array<[number, string | null]>).map(([size, checksum], i) => ({ partNumber: i + 1, size, checksum }))
}

/** Part `n` (1-based) as a byte range; null for the whole of an empty object. */
export function partRange(r: StorageObjectRow, n: number): { start: number; end: number } | null {
  const parts = partLayout(r)
  if (!parts) throw new AppError(501, 'NotImplemented', 'This object was completed before nestbox kept part layouts; GET it by range instead.')
  if (!Number.isInteger(n) || n < 1 || n > parts.length) throw new AppError(416, 'InvalidPartNumber', 'The requested partnumber is not satisfiable')
  if (r.size === 0) return null
  const start = parts.slice(0, n - 1).reduce((s, p) => s + p.size, 0)
  return { start, end: start + parts[n - 1].size - 1 }
}

/** An expired object is gone for every reader, even before the sweeper deletes it. */
export const isLive = (r: { expires_at: number | null }, now: number) => r.expires_at === null || r.expires_at > now

const bare = (t: string) => t.trim().replace(/^W\//, '').replace(/^"|"$/g, '')
const etagMatches = (header: string, etag: string) => header.split(',').some((t) => t.trim() === '*' || bare(t) === etag)
/** HTTP dates have second resolution; compare at that resolution. */
const seconds = (ms: number) => Math.floor(ms / 1000)

/** Outcome of read preconditions: proceed, 304, or 412 (RFC 9110 §13.2.2 order). */
export function evaluateRead(info: ObjectInfo, c: Conditions): 'ok' | 'not_modified' | 'failed' {
  if (c.ifMatch !== undefined) {
    if (!etagMatches(c.ifMatch, info.etag)) return 'failed'
  } else if (c.ifUnmodifiedSince !== undefined) {
    const t = Date.parse(c.ifUnmodifiedSince)
    if (!Number.isNaN(t) && seconds(info.lastModified) > seconds(t)) return 'failed'
  }
  if (c.ifNoneMatch !== undefined) {
    if (etagMatches(c.ifNoneMatch, info.etag)) return 'not_modified'
  } else if (c.ifModifiedSince !== undefined) {
    const t = Date.parse(c.ifModifiedSince)
    if (!Number.isNaN(t) && seconds(info.lastModified) <= seconds(t)) return 'not_modified'
  }
  return 'ok'
}

export const preconditionFailed = () => new AppError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold')

/** S3 conditional writes: If-None-Match: * (create only) and If-Match: <etag> (replace only that version). */
export function checkWrite(current: ObjectInfo | undefined, c: Conditions) {
  if (c.ifNoneMatch !== undefined) {
    if (c.ifNoneMatch.trim() !== '*') throw new AppError(501, 'NotImplemented', 'If-None-Match on writes only supports "*"')
    if (current) throw preconditionFailed()
  }
  if (c.ifMatch !== undefined) {
    if (!current) throw new AppError(404, 'NoSuchKey', 'The specified key does not exist.')
    if (!etagMatches(c.ifMatch, current.etag)) throw preconditionFailed()
  }
}

/** Parses "bytes=a-b" | "bytes=a-" | "bytes=-n" against a size; null = whole object; throws 416. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) return null
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return null // multiple or malformed ranges: ignored, like S3
  const unsatisfiable = () =>
    new AppError(416, 'InvalidRange', 'The requested range is not satisfiable', { headers: { 'Content-Range': `bytes */${size}` } })
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0 || size === 0) throw unsatisfiable()
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(m[1])
  if (start >= size) throw unsatisfiable()
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (end < start) return null
  return { start, end }
}
