/**
 * One parsed storage request, read from the raw request line (not the
 * normalised URL) so SigV4 sees exactly what the client signed and "." / ".."
 * key segments reach the traversal check instead of being resolved away.
 * Also decides which surface a request belongs to (JSON API or S3).
 */
import type { Context } from 'hono'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { invalid } from '../core/errors.ts'
import { takeBody } from '../http/continue.ts'
import { hasSigV4, queryPairs } from './s3/sigv4.ts'

export type StorageRequest = {
  method: string
  /** Path as received, percent-encoded, including the mount prefix. */
  rawPath: string
  rawQuery: string
  query: Map<string, string>
  header: (name: string) => string | undefined
  headerValues: (name: string) => string[]
  /** Lowercase header names present. */
  headerNames: () => string[]
  host: string
  bucket: string | undefined
  /** Decoded object key ("" when the path ends at the bucket). */
  key: string | undefined
  /** Bucket taken from the Host header (virtual-hosted style). */
  virtualHost: boolean
  body: () => AsyncIterable<Uint8Array>
  /** The connection, for the caller to read the body from itself, when that is possible (http/continue.ts). */
  takeBody: () => number | undefined
  /** The Node response, for handlers that stream a file straight into the socket. */
  outgoing: ServerResponse | undefined
  /** Headers every response carries (request id, nosniff), for responses written directly to `outgoing`. */
  responseHeaders: Record<string, string>
}

/** Query parameters only S3 uses: their presence makes a request an S3 request. */
const S3_PARAMS = new Set([
  'list-type', 'delimiter', 'marker', 'encoding-type', 'continuation-token', 'start-after', 'fetch-owner', 'uploads', 'uploadId',
  'partNumber', 'delete', 'location', 'versioning', 'versions', 'acl', 'policy', 'tagging', 'cors', 'lifecycle', 'website', 'logging',
  'notification', 'replication', 'encryption', 'object-lock', 'retention', 'legal-hold', 'accelerate', 'requestPayment', 'x-id',
  'key-marker', 'upload-id-marker', 'max-uploads', 'max-parts', 'part-number-marker', 'attributes', 'ownershipControls',
  'publicAccessBlock', 'intelligent-tiering', 'inventory', 'metrics', 'analytics', 'policyStatus', 'restore', 'select', 'torrent',
  'response-content-type', 'response-content-disposition', 'response-cache-control', 'response-content-encoding', 'response-content-language', 'response-expires',
])

function decodeKey(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    throw invalid('the object key is not valid percent-encoding', 'InvalidURI')
  }
}

export function parseStorageRequest(c: Context, o: { prefix: string; virtualHostDomain: string }): StorageRequest {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
  const rawUrl = incoming?.url ?? (() => {
    const u = new URL(c.req.raw.url)
    return u.pathname + u.search
  })()
  const q = rawUrl.indexOf('?')
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q)
  const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1)
  const query = new Map<string, string>()
  for (const [k, v] of queryPairs(rawQuery)) if (!query.has(k)) query.set(k, v)

  const headerValues = (name: string): string[] => {
    if (!incoming) {
      const v = c.req.raw.headers.get(name)
      return v === null ? [] : [v]
    }
    const out: string[] = []
    const raw = incoming.rawHeaders
    for (let i = 0; i < raw.length; i += 2) if (raw[i].length === name.length && raw[i].toLowerCase() === name) out.push(raw[i + 1])
    return out
  }
  const header = (name: string) => {
    if (!incoming) return c.req.raw.headers.get(name) ?? undefined
    const v = incoming.headers[name]
    return Array.isArray(v) ? v.join(', ') : v
  }
  const headerNames = () => (incoming ? Object.keys(incoming.headers) : [...c.req.raw.headers.keys()])

  const hostHeader = header('host') ?? ''
  const hostname = hostHeader.replace(/:\d+$/, '').toLowerCase()
  let rest = rawPath.startsWith(o.prefix) ? rawPath.slice(o.prefix.length) : rawPath
  if (rest.startsWith('/')) rest = rest.slice(1)
  let bucket: string | undefined
  let key: string | undefined
  const domain = o.virtualHostDomain
  const virtualHost = !!domain && hostname.endsWith('.' + domain) && hostname.length > domain.length + 1
  if (virtualHost) {
    bucket = hostname.slice(0, -domain.length - 1)
    key = decodeKey(rest)
  } else if (rest) {
    const slash = rest.indexOf('/')
    bucket = decodeKey(slash < 0 ? rest : rest.slice(0, slash))
    key = slash < 0 ? '' : decodeKey(rest.slice(slash + 1))
  }
  return {
    method: c.req.method,
    rawPath,
    rawQuery,
    query,
    header,
    headerValues,
    headerNames,
    host: hostHeader,
    bucket: bucket || undefined,
    key,
    virtualHost,
    body: () => (incoming ?? (c.req.raw.body as unknown as AsyncIterable<Uint8Array>) ?? []) as AsyncIterable<Uint8Array>,
    takeBody: () => (incoming ? takeBody(incoming) : undefined),
    outgoing,
    responseHeaders: { 'X-Request-Id': (c.var as { requestId?: string }).requestId ?? '', 'X-Content-Type-Options': 'nosniff' },
  }
}

/**
 * The request with `extra` headers (lowercase names) added where it has none of
 * that name: a presigned URL's signed x-amz-* query parameters, which S3
 * applies as headers.
 */
export function withHeaders(r: StorageRequest, extra: Map<string, string>): StorageRequest {
  if (!extra.size) return r
  return {
    ...r,
    header: (n) => r.header(n) ?? extra.get(n),
    headerValues: (n) => {
      const v = r.headerValues(n)
      return v.length || !extra.has(n) ? v : [extra.get(n)!]
    },
    headerNames: () => [...new Set([...r.headerNames(), ...extra.keys()])],
  }
}

/**
 * Which surface answers a request under /storage: the S3 API when it carries
 * SigV4 credentials (header or presigned query), any x-amz-* header, an
 * S3-only query parameter, comes from a known S3 client, is a POST to an object
 * or bucket path, or names its bucket in the Host header; the hybrids3 JSON API
 * otherwise. /storage/health, /storage/presign/* and /storage/mcp are always
 * JSON API.
 */
export function isS3Request(r: StorageRequest): boolean {
  if (!r.virtualHost && (r.bucket === 'health' || r.bucket === 'presign' || r.bucket === 'mcp')) return false
  if (r.virtualHost) return true
  const auth = r.header('authorization')
  if (auth && (hasSigV4(auth, '') || auth.startsWith('AWS '))) return true
  if (hasSigV4(undefined, r.rawQuery)) return true
  if (r.headerNames().some((h) => h.startsWith('x-amz-'))) return true
  for (const k of r.query.keys()) if (S3_PARAMS.has(k)) return true
  if (S3_CLIENT.test(r.header('user-agent') ?? '')) return true
  return r.method === 'POST'
}

/**
 * S3 clients that name themselves. An unsigned request from one (boto3 with
 * UNSIGNED, an anonymous SDK) may carry nothing else S3-only, yet it must get
 * S3's XML errors (NoSuchKey, AccessDenied), not the JSON API's.
 */
const S3_CLIENT = /(^|[\s(])(aws-sdk-[\w-]+|aws-cli|boto3|botocore|minio-[\w-]+|rclone|s3cmd)\//i
