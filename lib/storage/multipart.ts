/**
 * Multipart uploads: parts stream into their own files; Complete concatenates
 * them into one new object file and, in one transaction, commits the object,
 * marks the upload completed (kept so a retried Complete answers the same) and
 * drops the part rows. An upload's parts share its read lock; Complete and
 * Abort take its write lock.
 */
import { createHash } from 'node:crypto'
import { AppError, invalid } from '../core/errors.ts'
import type { IdGen } from '../core/ids.ts'
import { composite, digester, fullObjectCapable, type Algorithm } from './bytes/checksums.ts'
import { ingest } from './bytes/ingest.ts'
import type { Receiver } from './bytes/receiver.ts'
import { checkKey, evaluateRead, isLive, parseRange, preconditionFailed, toInfo } from './object-meta.ts'
import type { ObjectDeps, Objects } from './objects.ts'
import { completeUploadRow, deletePartRows, deleteUploadRow, findObjectRow, findUploadRow, insertUploadRow, listPartRows, listUploadRows, putPartRow, uploadRowsOfBucket } from './store.ts'
import type { StoragePartRow, StorageUploadRow } from './tables.ts'
import { parseStoredTags, type Tags } from './tags.ts'
import type { Bucket, ChecksumType, Conditions, Declared, ObjectInfo, StorageCaller } from './types.ts'

export const MIN_PART_SIZE = 5 * 1024 * 1024
const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
const MAX_PARTS = 10000

export type CompletePart = { partNumber: number; etag: string; checksums: Partial<Record<Algorithm, string>> }
export type PartInfo = { partNumber: number; etag: string; size: number; lastModified: number; checksum: string | null }
export type Upload = { id: string; bucket: string; key: string; createdAt: number; checksumAlgorithm: Algorithm | null; checksumType: ChecksumType | null }

const noSuchUpload = () => new AppError(404, 'NoSuchUpload', 'The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.')
const lockName = (id: string) => `\0upload/${id}`
const toUpload = (r: StorageUploadRow): Upload => ({
  id: r.id,
  bucket: r.bucket,
  key: r.key,
  createdAt: r.created_at,
  checksumAlgorithm: (r.checksum_algorithm as Algorithm) ?? null,
  checksumType: (r.checksum_type as ChecksumType) ?? null,
})
const toPart = (p: StoragePartRow): PartInfo => ({ partNumber: p.part_number, etag: p.etag, size: p.size, lastModified: p.last_modified, checksum: p.checksum })
const bare = (etag: string) => etag.trim().replace(/^"|"$/g, '')

export function createMultipart(d: ObjectDeps & { ids: IdGen; objects: Objects }) {
  async function openUpload(b: Bucket, key: string, id: string): Promise<StorageUploadRow> {
    const u = await findUploadRow(d.db, id)
    if (!u || u.bucket !== b.name || u.key !== key) throw noSuchUpload()
    return u
  }

  function checkPartNumber(n: number) {
    if (!Number.isInteger(n) || n < 1 || n > MAX_PARTS) throw invalid(`Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`, 'InvalidArgument')
  }

  /** Stores a part file under the upload's read lock, if the upload is still open. */
  async function savePart(b: Bucket, key: string, id: string, part: Omit<StoragePartRow, 'upload_id' | 'last_modified'>): Promise<StoragePartRow> {
    const held = await d.locks.read(b.name, lockName(id))
    let old: string | undefined
    const row: StoragePartRow = { ...part, upload_id: id, last_modified: d.clock.now() }
    try {
      const u = await openUpload(b, key, id)
      if (u.completed_at !== null) throw noSuchUpload()
      old = await putPartRow(d.db, row)
    } catch (e) {
      await d.disk.remove(part.file)
      throw e
    } finally {
      held.release()
    }
    d.disk.settle(part.file)
    if (old && old !== part.file) d.disk.retire(old)
    return row
  }

  return {
    async create(c: StorageCaller, bucket: string, key: string, o: { contentType?: string; meta: Record<string, string>; headers: Record<string, string>; checksumAlgorithm?: Algorithm; checksumType?: ChecksumType; tags?: Tags }): Promise<Upload> {
      checkKey(key)
      const b = d.buckets.authorize(c, bucket, 'write')
      let type = o.checksumType ?? null
      if (o.checksumAlgorithm && !type) type = o.checksumAlgorithm === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE'
      if (type && !o.checksumAlgorithm) throw invalid('x-amz-checksum-type requires x-amz-checksum-algorithm', 'InvalidRequest')
      if (type === 'FULL_OBJECT' && !fullObjectCapable(o.checksumAlgorithm!)) throw invalid(`The ${o.checksumAlgorithm} algorithm does not support the FULL_OBJECT checksum type`, 'InvalidRequest')
      if (type === 'COMPOSITE' && o.checksumAlgorithm === 'CRC64NVME') throw invalid('The CRC64NVME algorithm only supports the FULL_OBJECT checksum type', 'InvalidRequest')
      const row: StorageUploadRow = {
        id: d.ids.id('', 32),
        bucket: b.name,
        key,
        created_at: d.clock.now(),
        content_type: o.contentType ?? null,
        meta: JSON.stringify(o.meta),
        headers: JSON.stringify(o.headers),
        checksum_algorithm: o.checksumAlgorithm ?? null,
        checksum_type: type,
        completed_at: null,
        result: null,
        tags: JSON.stringify(o.tags ?? []),
      }
      await insertUploadRow(d.db, row)
      return toUpload(row)
    },

    async uploadPart(c: StorageCaller, bucket: string, key: string, id: string, partNumber: number, body: AsyncIterable<Uint8Array>, declared: Declared, signal?: AbortSignal): Promise<PartInfo & { checksumAlgorithm: Algorithm | null }> {
      checkKey(key)
      checkPartNumber(partNumber)
      const b = d.buckets.authorize(c, bucket, 'write')
      const u = await openUpload(b, key, id)
      if (u.completed_at !== null) throw noSuchUpload()
      const alg = u.checksum_algorithm as Algorithm | null
      if (declared.checksum && alg && declared.checksum.algorithm !== alg)
        throw invalid(`Checksum type mismatch: this upload uses ${alg}, the part declared ${declared.checksum.algorithm}`, 'InvalidRequest')
      // The upload's algorithm is computed for every part, declared or not.
      const decl: Declared = alg && !declared.checksum ? { ...declared, checksum: { algorithm: alg, value: () => undefined } } : declared
      const w = await ingest(d, body, decl, { maxSize: Math.min(MAX_PART_SIZE, b.maxObjectSize), signal })
      const row = await savePart(b, key, id, { part_number: partNumber, file: w.file, size: w.size, etag: w.md5, checksum: alg ? (w.checksum?.value ?? null) : null })
      return { ...toPart(row), checksumAlgorithm: alg }
    },

    /** UploadPartCopy: a part made of (a range of) an existing object. */
    async uploadPartCopy(c: StorageCaller, bucket: string, key: string, id: string, partNumber: number, src: { bucket: string; key: string; range?: string; conditions?: Conditions }): Promise<PartInfo> {
      checkKey(key)
      checkKey(src.key)
      checkPartNumber(partNumber)
      const b = d.buckets.authorize(c, bucket, 'write')
      const sb = d.buckets.authorize(c, src.bucket, 'read')
      const u = await openUpload(b, key, id)
      if (u.completed_at !== null) throw noSuchUpload()
      const held = await d.locks.read(sb.name, src.key)
      let w: { file: string; size: number }
      const md5 = createHash('md5')
      const alg = u.checksum_algorithm as Algorithm | null
      const sum = alg ? digester(alg) : null
      try {
        const row = await findObjectRow(d.db, sb.name, src.key)
        if (!row || !isLive(row, d.clock.now())) throw new AppError(404, 'NoSuchKey', 'The specified key does not exist.')
        if (evaluateRead(toInfo(row), src.conditions ?? {}) !== 'ok') throw preconditionFailed()
        let range: { start: number; end: number } | null = null
        if (src.range) {
          const m = /^bytes=(\d+)-(\d+)$/.exec(src.range.trim())
          if (!m || Number(m[2]) < Number(m[1]) || Number(m[2]) >= row.size) throw new AppError(400, 'InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy')
          range = parseRange(src.range, row.size)
        }
        const size = range ? range.end - range.start + 1 : row.size
        if (size > Math.min(MAX_PART_SIZE, b.maxObjectSize)) throw new AppError(413, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.')
        w = await d.disk.concat([{ file: row.file, start: range?.start, end: range?.end }], (chunk) => {
          md5.update(chunk)
          sum?.update(chunk)
        })
      } finally {
        held.release()
      }
      const row = await savePart(b, key, id, { part_number: partNumber, file: w.file, size: w.size, etag: md5.digest('hex'), checksum: sum ? await sum.digest() : null })
      return toPart(row)
    },

    /**
     * Completes an upload from the client's part list. A retry of a Complete that
     * already succeeded with the same parts answers the same object again.
     */
    async complete(c: StorageCaller, bucket: string, key: string, id: string, parts: CompletePart[], o: { conditions?: Conditions; fullObjectChecksum?: { algorithm: Algorithm; value: string } } = {}): Promise<ObjectInfo> {
      checkKey(key)
      const b = d.buckets.authorize(c, bucket, 'write')
      const held = await d.locks.write(b.name, lockName(id))
      try {
        const u = await openUpload(b, key, id)
        const wanted = parts.map((p) => `${p.partNumber}:${bare(p.etag)}`).join(',')
        if (u.completed_at !== null) {
          const done = JSON.parse(u.result!) as { parts: string; info: ObjectInfo }
          if (done.parts !== wanted) throw noSuchUpload()
          return done.info
        }
        if (!parts.length) throw invalid('You must specify at least one part', 'MalformedXML')
        for (let i = 1; i < parts.length; i++)
          if (parts[i].partNumber <= parts[i - 1].partNumber) throw invalid('The list of parts was not in ascending order. Parts must be ordered by part number.', 'InvalidPartOrder')
        const stored = new Map((await listPartRows(d.db, id)).map((p) => [p.part_number, p]))
        const alg = u.checksum_algorithm as Algorithm | null
        const chosen: StoragePartRow[] = []
        for (const [i, p] of parts.entries()) {
          const s = stored.get(p.partNumber)
          if (!s || s.etag !== bare(p.etag)) throw invalid(`One or more of the specified parts could not be found (part ${p.partNumber}).`, 'InvalidPart')
          if (i < parts.length - 1 && s.size < MIN_PART_SIZE) throw invalid(`Your proposed upload is smaller than the minimum allowed size (part ${p.partNumber} is ${s.size} bytes; parts but the last must be at least ${MIN_PART_SIZE}).`, 'EntityTooSmall')
          for (const [a, v] of Object.entries(p.checksums)) {
            if (a !== alg || !v) continue
            if (s.checksum && v !== s.checksum) throw invalid(`The ${a} checksum of part ${p.partNumber} does not match the uploaded part.`, 'InvalidPart')
          }
          chosen.push(s)
        }
        const total = chosen.reduce((n, p) => n + p.size, 0)
        if (total > b.maxObjectSize) throw new AppError(413, 'EntityTooLarge', `object exceeds the bucket's limit of ${b.maxObjectSize} bytes`)
        const full = alg && u.checksum_type === 'FULL_OBJECT' ? digester(alg) : null
        const w = await d.disk.concat(chosen.map((p) => ({ file: p.file })), full ? (chunk) => full.update(chunk) : undefined)
        const md5s = createHash('md5')
        for (const p of chosen) md5s.update(Buffer.from(p.etag, 'hex'))
        let checksum: ObjectInfo['checksum'] = null
        if (alg && full) checksum = { algorithm: alg, value: await full.digest(), type: 'FULL_OBJECT' }
        else if (alg && chosen.every((p) => p.checksum)) checksum = { algorithm: alg, value: await composite(alg, chosen.map((p) => p.checksum!)), type: 'COMPOSITE' }
        if (o.fullObjectChecksum && checksum?.type === 'FULL_OBJECT' && o.fullObjectChecksum.value !== checksum.value) {
          await d.disk.remove(w.file)
          throw new AppError(400, 'BadDigest', `The ${alg} you specified did not match the calculated checksum.`)
        }
        const contentType = u.content_type ?? 'application/octet-stream'
        const partFiles = [...stored.values()].map((p) => p.file)
        let result: ObjectInfo | undefined
        const info = await d.objects.commit(
          b,
          key,
          { file: w.file, size: w.size, etag: `${md5s.digest('hex')}-${chosen.length}`, contentType, meta: JSON.parse(u.meta), headers: JSON.parse(u.headers), checksum, partsCount: chosen.length, tags: parseStoredTags(u.tags), parts: JSON.stringify(chosen.map((p) => [p.size, p.checksum])) },
          o.conditions,
          async (tx) => {
            const now = d.clock.now()
            const row = await findObjectRow(tx, b.name, key)
            result = toInfo(row!)
            await completeUploadRow(tx, id, now, JSON.stringify({ parts: wanted, info: result }))
            await deletePartRows(tx, id)
          },
        )
        for (const f of partFiles) await d.disk.remove(f)
        return result ?? info
      } finally {
        held.release()
      }
    },

    async abort(c: StorageCaller, bucket: string, key: string, id: string): Promise<void> {
      const b = d.buckets.authorize(c, bucket, 'write')
      const held = await d.locks.write(b.name, lockName(id))
      try {
        const u = await openUpload(b, key, id)
        if (u.completed_at !== null) throw noSuchUpload()
        const parts = await listPartRows(d.db, id)
        await deleteUploadRow(d.db, id)
        for (const p of parts) await d.disk.remove(p.file)
      } finally {
        held.release()
      }
    },

    async listParts(c: StorageCaller, bucket: string, key: string, id: string, o: { after?: number; max: number }) {
      const b = d.buckets.authorize(c, bucket, 'write')
      const u = await openUpload(b, key, id)
      if (u.completed_at !== null) throw noSuchUpload()
      const max = Math.max(0, Math.min(o.max, 1000))
      const rows = await listPartRows(d.db, id, { after: o.after, limit: max + 1 })
      return { upload: toUpload(u), parts: rows.slice(0, max).map(toPart), truncated: rows.length > max }
    },

    async listUploads(c: StorageCaller, bucket: string, o: { prefix?: string; keyMarker?: string; uploadIdMarker?: string; max: number }) {
      const b = d.buckets.authorize(c, bucket, 'write')
      const max = Math.max(0, Math.min(o.max, 1000))
      const rows = await listUploadRows(d.db, b.name, { prefix: o.prefix ?? '', keyMarker: o.keyMarker || undefined, uploadIdMarker: o.uploadIdMarker, limit: max + 1 })
      return { uploads: rows.slice(0, max).map(toUpload), truncated: rows.length > max }
    },

    /** Drops every upload of a bucket (DeleteBucket, after its caller was checked). */
    async dropBucket(bucket: string) {
      for (const u of await uploadRowsOfBucket(d.db, bucket)) await this.drop(u)
    },

    /** Sweeper: drop an upload and its part files regardless of caller (stale or long-completed). */
    async drop(u: { id: string; bucket: string }) {
      const held = await d.locks.write(u.bucket, lockName(u.id))
      try {
        const parts = await listPartRows(d.db, u.id)
        await deleteUploadRow(d.db, u.id)
        for (const p of parts) await d.disk.remove(p.file)
      } finally {
        held.release()
      }
    },
  }
}
export type Multipart = ReturnType<typeof createMultipart>
