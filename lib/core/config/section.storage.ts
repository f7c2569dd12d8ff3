import { bool, int, json, str } from './spec.ts'

/** One configured bucket. Keys left empty are generated at first start and kept in the database. */
export type BucketConfig = {
  name: string
  /** Public-read: GET/HEAD/list need no key. Writes always need the bucket key or the master key. */
  public?: boolean
  /** The bucket key (Bearer token, and the SigV4 secret). */
  key?: string
  /** The SigV4 access key id for this bucket; defaults to the bucket name. */
  publicKey?: string
  /** Object lifetime after its last upload: "168h", "30m", "45s", "7d", or seconds; 0 or "" = forever. */
  ttl?: string | number
  /** Largest object accepted, in MiB; defaults to storage.maxObjectSizeMb. */
  maxObjectSizeMb?: number
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/
const RESERVED = new Set(['health', 'presign', 'mcp'])
const DURATION = /^(\d+)\s*(s|m|h|d)?$/

/** Seconds of a TTL value, or null when the value is not a duration. 0 = no expiry. */
export function ttlSeconds(v: string | number | undefined): number | null {
  if (v === undefined || v === '' || v === 0) return 0
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : null
  const m = DURATION.exec(v.trim())
  if (!m) return null
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd']
}

/** Why a bucket name is unusable (S3 rules, plus the JSON API's own path words), or null. */
export function bucketNameProblem(name: string): string | null {
  if (!BUCKET_NAME.test(name) || name.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(name))
    return 'must be 3-63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit'
  if (RESERVED.has(name)) return `"${name}" is reserved by the JSON API`
  return null
}

function checkBuckets(v: unknown): string | null {
  if (!Array.isArray(v)) return 'must be a list of buckets'
  const names = new Set<string>()
  const publicKeys = new Set<string>()
  for (const b of v as BucketConfig[]) {
    if (b == null || typeof b !== 'object') return 'must be a list of objects'
    const unknown = Object.keys(b).find((k) => !['name', 'public', 'key', 'publicKey', 'ttl', 'maxObjectSizeMb'].includes(k))
    if (unknown) return `has an unknown bucket field "${unknown}"`
    if (typeof b.name !== 'string') return 'needs a name on every bucket'
    const bad = bucketNameProblem(b.name)
    if (bad) return `bucket name "${b.name}" ${bad}`
    if (names.has(b.name)) return `lists bucket "${b.name}" twice`
    names.add(b.name)
    if (b.public !== undefined && typeof b.public !== 'boolean') return `bucket "${b.name}": public must be true or false`
    if (b.key !== undefined && (typeof b.key !== 'string' || (b.key !== '' && b.key.length < 16))) return `bucket "${b.name}": key must be at least 16 characters`
    const pk = b.publicKey ?? b.name
    if (typeof pk !== 'string' || !/^[A-Za-z0-9._-]{3,128}$/.test(pk)) return `bucket "${b.name}": publicKey must be 3-128 characters of letters, digits, . _ -`
    if (publicKeys.has(pk)) return `publicKey "${pk}" is used by two buckets`
    publicKeys.add(pk)
    if (ttlSeconds(b.ttl) === null) return `bucket "${b.name}": ttl must be a duration like "168h", "30m", "7d" or a number of seconds`
    if (b.maxObjectSizeMb !== undefined && !(Number.isInteger(b.maxObjectSizeMb) && b.maxObjectSizeMb > 0)) return `bucket "${b.name}": maxObjectSizeMb must be a positive integer`
  }
  return null
}

/** Object storage settings. Owned by lib/storage. */
export const storage = {
  /** Where object files live; empty = <dataDir>/storage. */
  dir: str('', { allowEmpty: true }),
  /** The key that works on every bucket (Bearer, or SigV4 secret with any access key id); generated at first start when empty. */
  masterKey: str('', { secret: true, allowEmpty: true }),
  /** Access key id the master key signs presigned URLs with. */
  masterAccessKey: str('nestbox-master', { pattern: /^[A-Za-z0-9._-]{3,128}$/, patternDoc: '3-128 letters, digits, . _ -' }),
  region: str('us-east-1', { pattern: /^[a-z0-9-]{1,32}$/, patternDoc: 'a region name like us-east-1' }),
  buckets: json<BucketConfig[]>([{ name: 'uploads', public: true, ttl: '168h' }], checkBuckets, {
    doc: 'list of {name, public, key, publicKey, ttl, maxObjectSizeMb}',
  }),
  /** Default largest object per bucket, in MiB. */
  maxObjectSizeMb: int(5120, 1, 5 * 1024 * 1024),
  /** How often the TTL/orphan sweeper runs. */
  sweepIntervalSec: int(60, 1, 86400),
  /** Unfinished multipart uploads older than this are aborted by the sweeper. */
  multipartExpiryHours: int(168, 1, 24 * 365),
  locks: {
    acquireTimeoutMs: int(30_000, 1, 3_600_000),
    holdTimeoutMs: int(300_000, 1, 86_400_000),
    maxWaiters: int(100, 0, 100_000),
  },
  /** Domain for virtual-hosted-style requests: Host "<bucket>.<domain>" selects the bucket. Empty = path-style only. */
  virtualHostDomain: str('', { allowEmpty: true, pattern: /^[a-z0-9.-]+$/, patternDoc: 'a DNS name' }),
  /** A dedicated listener serving the S3 API at its root (for clients that cannot use a /storage prefix). */
  s3Listener: {
    enabled: bool(false),
    host: str('0.0.0.0'),
    port: int(9000, 0, 65535),
  },
  /** Largest object the MCP download tool returns, in MiB. */
  mcpMaxDownloadMb: int(50, 1, 1024),
}
