/** Shared setup for storage tests: a nestbox with a few buckets, and S3 clients pointed at it. */
import { S3Client, type S3ServiceException } from '@aws-sdk/client-s3'
import * as assert from 'uvu/assert'
import { createHash, createHmac } from 'node:crypto'
import { request } from 'node:http'
import { startTestNestbox, type TestNestbox } from '../harness.ts'

export const PRIVATE_KEY = 'private-bucket-key-0123456789'
export const OTHER_KEY = 'other-bucket-key-0123456789ab'
export const TINY_KEY = 'tiny-bucket-key-0123456789abc'

/** uploads (public, TTL 168h, generated key), private, other (private) and tiny (1 MiB limit). */
export const BUCKETS = [
  { name: 'uploads', public: true, ttl: '168h' },
  { name: 'private', key: PRIVATE_KEY },
  { name: 'other', key: OTHER_KEY, publicKey: 'other-access' },
  { name: 'tiny', key: TINY_KEY, maxObjectSizeMb: 1 },
]

export type StorageNestbox = TestNestbox & { masterKey: string; uploadsKey: string }

export async function startStorage(set: Record<string, string | number | boolean> = {}, buckets: unknown[] = BUCKETS, dataDir?: string): Promise<StorageNestbox> {
  const nb = await startTestNestbox({ set: { 'storage.buckets': JSON.stringify(buckets), ...set }, dataDir })
  return Object.assign(nb, { masterKey: nb.bootstrap.storage_master_key, uploadsKey: nb.bootstrap.storage_bucket_uploads_key })
}

export function s3(nb: { url: string }, accessKeyId: string, secretAccessKey: string, opts: { endpoint?: string; forcePathStyle?: boolean } = {}) {
  return new S3Client({
    endpoint: opts.endpoint ?? nb.url + '/storage',
    region: 'us-east-1',
    forcePathStyle: opts.forcePathStyle ?? true,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
  })
}

/** A request with the path sent byte for byte (fetch would normalise "/../"). */
export function rawRequest(url: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }))
    })
    req.on('error', reject)
    req.end()
  })
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

/** Node's hashes in the shape @smithy/signature-v4 wants (its own sha256 packages are not installed here). */
export class NodeSha256 {
  h: ReturnType<typeof createHash>
  constructor(secret?: Uint8Array | string) {
    this.h = (secret ? createHmac('sha256', secret) : createHash('sha256')) as ReturnType<typeof createHash>
  }
  update(d: Uint8Array | string) {
    this.h.update(d)
  }
  async digest() {
    return new Uint8Array(this.h.digest())
  }
}

/** Asserts that an S3 SDK call fails with error `name` and HTTP `status`. */
export async function fails(p: Promise<unknown>, name: string, status: number) {
  try {
    await p
  } catch (e) {
    assert.is((e as S3ServiceException).name, name, (e as Error).message)
    assert.is((e as S3ServiceException).$metadata.httpStatusCode, status)
    return
  }
  assert.unreachable(`expected ${name}`)
}
