/**
 * The storage service: buckets, objects, listings, multipart uploads, presigned
 * URLs, locks and TTL, called by the JSON API, the S3 API and MCP alike. Every
 * rule lives in one of the modules assembled here, never in a surface.
 */
import { join } from 'node:path'
import type { Config } from '../core/config/index.ts'
import type { Db } from '../core/db.ts'
import { invalid } from '../core/errors.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import { aclOf, checkObjectAcl, type Acl } from './acl.ts'
import { createBuckets } from './buckets.ts'
import { createDiskStore } from './bytes/disk.ts'
import { createListing } from './listing.ts'
import { createLocks } from './locks.ts'
import { createMd5Pool } from './bytes/md5-pool.ts'
import { createReceiver, RECEIVE_ADDON, RECEIVE_SOURCE } from './bytes/receiver.ts'
import { ownAddon } from '../core/native.ts'
import { createMultipart } from './multipart.ts'
import { checkKey } from './object-meta.ts'
import { createObjects } from './objects.ts'
import { presignUrl, uriEncode, PRESIGN_MAX_SECONDS } from './s3/sigv4.ts'
import { createSweeper } from './sweeper.ts'
import type { StorageCaller } from './types.ts'

export const PRESIGN_DEFAULT_SECONDS = 3600

export type StorageDeps = { db: Db; clock: Clock; ids: IdGen; log: Logger; config: Config['storage']; dataDir: string }

export function createStorageService(d: StorageDeps) {
  const disk = createDiskStore(d.config.dir || join(d.dataDir, 'storage'))
  const locks = createLocks(d.config.locks)
  const buckets = createBuckets({ db: d.db, clock: d.clock, log: d.log, config: d.config })
  const md5 = createMd5Pool()
  const receiver = createReceiver(() => ownAddon(RECEIVE_ADDON, RECEIVE_SOURCE), d.log)
  const objects = createObjects({ db: d.db, clock: d.clock, disk, locks, buckets, md5, receiver })
  const listing = createListing({ db: d.db, clock: d.clock, buckets })
  const multipart = createMultipart({ db: d.db, clock: d.clock, disk, locks, buckets, md5, receiver, ids: d.ids, objects })
  const sweeper = createSweeper({ db: d.db, clock: d.clock, log: d.log, disk, locks, multipart, multipartExpiryMs: d.config.multipartExpiryHours * 3600_000, forget: objects.forget })

  return {
    region: d.config.region,
    maxMcpDownload: d.config.mcpMaxDownloadMb * 1024 * 1024,
    /** Start-up: configured buckets and keys (returns bootstrap lines for generated keys), leftover temp files. */
    async start(): Promise<string[]> {
      const lines = await buckets.sync()
      await disk.sweepTmp()
      receiver.available() // loads the addon (or says once why large uploads stream through nestbox)
      return lines
    },
    sweep: sweeper.sweep,
    /** Stops the hashing workers. */
    close: () => md5.close(),

    callerForKey: buckets.callerForKey,
    secretsFor: buckets.secretsFor,
    listBuckets: buckets.list,
    bucket: (c: StorageCaller, name: string) => buckets.authorize(c, name, 'list'),
    createBucket: buckets.create,
    setBucketAcl: buckets.setAcl,
    /** A bucket's ACL, to its key or the master key. */
    bucketAcl: (c: StorageCaller, name: string): Acl => aclOf(buckets.authorize(c, name, 'write')),
    /** An object's ACL (its bucket's), to a caller that may write the bucket; the object must exist. */
    async objectAcl(c: StorageCaller, bucket: string, key: string): Promise<Acl> {
      const b = buckets.authorize(c, bucket, 'write')
      await objects.head(c, bucket, key)
      return aclOf(b)
    },
    /** PutObjectAcl: accepted when it restates what the bucket gives; the object must exist. */
    async setObjectAcl(c: StorageCaller, bucket: string, key: string, acl: Acl): Promise<void> {
      checkObjectAcl(buckets.authorize(c, bucket, 'write'), acl)
      await objects.head(c, bucket, key)
    },
    /** An ACL asked for with a write (x-amz-acl on PutObject, CopyObject, CreateMultipartUpload, POST). */
    acceptObjectAcl: (c: StorageCaller, bucket: string, acl: Acl) => checkObjectAcl(buckets.authorize(c, bucket, 'write'), acl),
    deleteBucket: (c: StorageCaller, name: string) => buckets.remove(c, name, (b) => multipart.dropBucket(b)),

    putObject: objects.put,
    getObject: objects.get,
    headObject: objects.head,
    objectParts: objects.parts,
    deleteObject: objects.delete,
    copyObject: objects.copy,
    setObjectTags: objects.setTags,
    listObjects: listing.list,
    /** Deletes many keys; each key answers on its own (a bad key does not stop the others). */
    async deleteObjects(c: StorageCaller, bucket: string, keys: string[]) {
      buckets.authorize(c, bucket, 'write')
      const out: Array<{ key: string; error?: { code: string; message: string } }> = []
      for (const key of keys) {
        try {
          await objects.delete(c, bucket, key)
          out.push({ key })
        } catch (e) {
          const err = e as { code?: string; message?: string }
          out.push({ key, error: { code: err.code ?? 'InternalError', message: err.code ? (err.message ?? '') : 'We encountered an internal error. Please try again.' } })
        }
      }
      return out
    },

    multipart,

    /**
     * compat(hybrids3 000): a presigned GET URL for an object. Public buckets get
     * the plain URL with expires null; private ones a SigV4 query-signed URL
     * valid `expires` seconds (1..604800, default 3600). Needs the bucket key or
     * the master key.
     */
    presign(c: StorageCaller, bucket: string, key: string, o: { expires?: number; baseUrl: string }): { url: string; expires: number | null } {
      checkKey(key)
      const b = buckets.authorize(c, bucket, 'write')
      const expires = o.expires ?? PRESIGN_DEFAULT_SECONDS
      if (!Number.isInteger(expires) || expires < 1 || expires > PRESIGN_MAX_SECONDS)
        throw invalid(`expires must be a whole number of seconds between 1 and ${PRESIGN_MAX_SECONDS}`, 'InvalidArgument')
      const url = `${o.baseUrl}/${b.name}/${uriEncode(key, true)}`
      if (b.publicRead) return { url, expires: null }
      const cred = buckets.signingCredentials(c)
      return { url: presignUrl({ method: 'GET', url, accessKeyId: cred.accessKeyId, secret: cred.secret, region: d.config.region, expires, now: d.clock.now() }), expires }
    },
  }
}
export type StorageService = ReturnType<typeof createStorageService>
