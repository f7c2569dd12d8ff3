/**
 * The bucket registry: configured buckets (synced from configuration at start,
 * with generated keys kept in the database so restarts keep them) and buckets
 * created through S3 with the master key. Held in memory; the database is the
 * record.
 */
import { randomBytes } from 'node:crypto'
import { AppError, conflict } from '../core/errors.ts'
import type { Db } from '../core/db.ts'
import type { Clock } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import { safeEqual } from '../core/secrets.ts'
import { bucketNameProblem, ttlSeconds, type BucketConfig } from '../core/config/section.storage.ts'
import { aclOf, type Acl } from './acl.ts'
import { accessDenied, authorize, isMaster, noSuchBucket, visibleBuckets } from './access.ts'
import { bucketHasObjects, bucketInUse, deleteBucketRow, getSetting, insertBucketRow, listBucketRows, setSetting, updateBucketRow } from './store.ts'
import type { StorageBucketRow } from './tables.ts'
import type { Bucket, StorageCaller } from './types.ts'

export type BucketDeps = {
  db: Db
  clock: Clock
  log: Logger
  config: { buckets: BucketConfig[]; masterKey: string; masterAccessKey: string; maxObjectSizeMb: number }
}

const newKey = () => randomBytes(24).toString('base64url')
const MiB = 1024 * 1024

export function createBuckets(d: BucketDeps) {
  const byName = new Map<string, Bucket>()
  const secrets = new Map<string, { secret: string; bucket: string }>()
  let masterKey = d.config.masterKey

  const toBucket = (r: StorageBucketRow): Bucket => ({
    name: r.name,
    publicRead: r.public_read === 1,
    accessKey: r.access_key,
    ttlSeconds: r.ttl_seconds,
    maxObjectSize: r.max_object_size ?? d.config.maxObjectSizeMb * MiB,
    source: r.source,
    createdAt: r.created_at,
  })

  async function reload() {
    byName.clear()
    secrets.clear()
    for (const r of await listBucketRows(d.db)) {
      byName.set(r.name, toBucket(r))
      if (r.access_key && r.secret_key) secrets.set(r.access_key, { secret: r.secret_key, bucket: r.name })
    }
  }

  return {
    /**
     * Start-up: resolve the master key, bring configured buckets into the
     * database, and return the bootstrap lines for keys generated just now.
     */
    async sync(): Promise<string[]> {
      const lines: string[] = []
      if (!masterKey) {
        masterKey = (await getSetting(d.db, 'master_key')) ?? ''
        if (!masterKey) {
          masterKey = newKey()
          await setSetting(d.db, 'master_key', masterKey)
          // S3 tools need the access key id beside the secret.
          lines.push(`storage_master_access_key=${d.config.masterAccessKey}`, `storage_master_key=${masterKey}`)
        }
      }
      const existing = new Map((await listBucketRows(d.db)).map((r) => [r.name, r]))
      for (const b of d.config.buckets) {
        const old = existing.get(b.name)
        let secret = b.key || old?.secret_key || ''
        const generated = !secret
        if (generated) secret = newKey()
        const row: StorageBucketRow = {
          name: b.name,
          public_read: b.public ? 1 : 0,
          access_key: b.publicKey ?? b.name,
          secret_key: secret,
          ttl_seconds: ttlSeconds(b.ttl) || null,
          max_object_size: b.maxObjectSizeMb ? b.maxObjectSizeMb * MiB : null,
          source: 'config',
          created_at: old?.created_at ?? d.clock.now(),
        }
        if (old) await updateBucketRow(d.db, b.name, row)
        else await insertBucketRow(d.db, row)
        if (generated) lines.push(`storage_bucket_${b.name}_access_key=${row.access_key}`, `storage_bucket_${b.name}_key=${secret}`)
      }
      const configured = new Set(d.config.buckets.map((b) => b.name))
      for (const r of existing.values()) {
        if (r.source !== 'config' || configured.has(r.name)) continue
        if (await bucketInUse(d.db, r.name)) {
          // Keep its objects reachable; it becomes an ordinary bucket the master key can empty and delete.
          await updateBucketRow(d.db, r.name, { source: 's3' })
          d.log.warn('storage: bucket removed from configuration still holds objects; kept', { bucket: r.name })
        } else await deleteBucketRow(d.db, r.name)
      }
      await reload()
      return lines
    },

    get: (name: string) => byName.get(name),
    /** The bucket `c` may act on, or the error it may see. */
    authorize: (c: StorageCaller, name: string, action: 'read' | 'list' | 'write') => authorize(c, byName.get(name), name, action),
    list: (c: StorageCaller) => visibleBuckets(c, [...byName.values()]),
    masterKey: () => masterKey,
    masterAccessKey: () => d.config.masterAccessKey,

    /** Who a Bearer key is: the master key, a bucket key, or nobody. */
    callerForKey(key: string): StorageCaller | null {
      if (masterKey && safeEqual(key, masterKey)) return { kind: 'master' }
      for (const s of secrets.values()) if (safeEqual(key, s.secret)) return { kind: 'bucket', bucket: s.bucket }
      return null
    },

    /** SigV4 secrets an access key id may sign with: its bucket key, and the master key. */
    secretsFor(accessKeyId: string): Array<{ secret: string; owner: StorageCaller }> {
      const out: Array<{ secret: string; owner: StorageCaller }> = []
      const s = secrets.get(accessKeyId)
      if (s) out.push({ secret: s.secret, owner: { kind: 'bucket', bucket: s.bucket } })
      if (s || accessKeyId === d.config.masterAccessKey) out.push({ secret: masterKey, owner: { kind: 'master' } })
      return out
    },

    /** The credentials a caller signs presigned URLs with. */
    signingCredentials(c: StorageCaller): { accessKeyId: string; secret: string } {
      if (isMaster(c)) return { accessKeyId: d.config.masterAccessKey, secret: masterKey }
      if (c.kind === 'bucket') {
        const b = byName.get(c.bucket)
        const s = b?.accessKey ? secrets.get(b.accessKey) : undefined
        if (s) return { accessKeyId: b!.accessKey!, secret: s.secret }
      }
      throw accessDenied()
    },

    /**
     * S3 CreateBucket: master key only; no bucket key (the master key reaches
     * it). A taken name answers as on S3: BucketAlreadyOwnedByYou to a caller
     * that can use that bucket, BucketAlreadyExists to anyone else.
     */
    async create(c: StorageCaller, name: string, o: { acl?: Acl } = {}): Promise<Bucket> {
      const taken = byName.get(name)
      if (taken) {
        if (isMaster(c) || (c.kind === 'bucket' && c.bucket === name))
          throw conflict('Your previous request to create the named bucket succeeded and you already own it.', 'BucketAlreadyOwnedByYou')
        throw conflict('The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.', 'BucketAlreadyExists')
      }
      if (!isMaster(c)) throw accessDenied('Only the master key can create buckets')
      const problem = bucketNameProblem(name)
      if (problem) throw new AppError(400, 'InvalidBucketName', `The specified bucket is not valid: ${problem}`)
      const publicRead = o.acl === 'public-read' ? 1 : 0
      await insertBucketRow(d.db, { name, public_read: publicRead, access_key: null, secret_key: null, ttl_seconds: null, max_object_size: null, source: 's3', created_at: d.clock.now() })
      await reload()
      return byName.get(name)!
    },

    /**
     * PutBucketAcl: the bucket's key or the master key may restate the ACL;
     * changing it takes the master key, and configured buckets change only in
     * configuration.
     */
    async setAcl(c: StorageCaller, name: string, acl: Acl): Promise<void> {
      const b = authorize(c, byName.get(name), name, 'write')
      if (aclOf(b) === acl) return
      if (!isMaster(c)) throw accessDenied('Only the master key can change a bucket\'s ACL')
      if (b.source === 'config') throw conflict(`Bucket ${name} is defined in the configuration; set "public" there.`, 'OperationAborted')
      await updateBucketRow(d.db, name, { public_read: acl === 'public-read' ? 1 : 0 })
      await reload()
    },

    /**
     * S3 DeleteBucket: master key only; the bucket must hold no object and not
     * come from configuration. As on AWS, its unfinished multipart uploads do
     * not keep it: `dropUploads` aborts them first.
     */
    async remove(c: StorageCaller, name: string, dropUploads: (bucket: string) => Promise<void>): Promise<void> {
      if (!isMaster(c)) throw accessDenied('Only the master key can delete buckets')
      const b = byName.get(name)
      if (!b) throw noSuchBucket(name)
      if (b.source === 'config') throw conflict(`Bucket ${name} is defined in the configuration; remove it there.`, 'OperationAborted')
      if (await bucketHasObjects(d.db, name)) throw conflict('The bucket you tried to delete is not empty', 'BucketNotEmpty')
      await dropUploads(name)
      await d.db.deleteFrom('storage_uploads').where('bucket', '=', name).execute()
      await deleteBucketRow(d.db, name)
      await reload()
    },
  }
}
export type Buckets = ReturnType<typeof createBuckets>
