/** Storage domain types shared by the service and its surfaces. */
import type { Algorithm } from './bytes/checksums.ts'

/**
 * Who is calling storage. Bucket keys and the master key are storage's own
 * principals (resolved by the surfaces from Bearer or SigV4); `system` is the
 * sweeper and other in-process callers.
 */
export type StorageCaller = { kind: 'anonymous' } | { kind: 'master' } | { kind: 'bucket'; bucket: string } | { kind: 'system' }

export type Bucket = {
  name: string
  publicRead: boolean
  /** SigV4 access key id of the bucket key; null when only the master key works. */
  accessKey: string | null
  ttlSeconds: number | null
  maxObjectSize: number
  source: 'config' | 's3'
  createdAt: number
}

export type ChecksumType = 'FULL_OBJECT' | 'COMPOSITE'
export type StoredChecksum = { algorithm: Algorithm; value: string; type: ChecksumType }

export type ObjectInfo = {
  bucket: string
  key: string
  size: number
  /** MD5 hex for single uploads, "<md5 of part md5s>-<n>" for multipart; unquoted. */
  etag: string
  contentType: string
  lastModified: number
  expiresAt: number | null
  /** x-amz-meta-* values by lowercase name (without the prefix). */
  meta: Record<string, string>
  /** Stored response headers: cache-control, content-disposition, content-encoding, content-language, expires. */
  headers: Record<string, string>
  checksum: StoredChecksum | null
  partsCount: number | null
  /** S3 object tags, in the order given. */
  tags: Array<[string, string]>
}

/** Request preconditions (RFC 9110 / S3). */
export type Conditions = { ifMatch?: string; ifNoneMatch?: string; ifModifiedSince?: string; ifUnmodifiedSince?: string }

/** What a writer declares about the bytes it sends; every declared digest is verified. */
export type Declared = {
  contentLength?: number
  /** Content-MD5, base64. */
  contentMd5?: string
  /** An x-amz-checksum-* algorithm, with its value known up front or only after the body (trailer). */
  checksum?: { algorithm: Algorithm; value: () => string | undefined }
  /**
   * The body (of contentLength bytes) may be taken off the connection rather than read: `take` gives the
   * connection's descriptor when it can (http/continue.ts takeBody); `sha256`: what the request signed it to be.
   */
  direct?: { take: () => number | undefined; sha256?: string }
}

/** Bytes arriving in chunks (a request body, a decoder, or an in-memory list). */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>

export const STORED_HEADERS = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'] as const
