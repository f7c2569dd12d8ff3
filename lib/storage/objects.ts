/**
 * Object operations behind both surfaces: put, get/head (with ranges and
 * preconditions), delete, copy. Writes stream to a new file, then take the
 * object's write lock only to check write preconditions and commit the row;
 * reads hold the read lock from lookup until their body stream ends.
 */
import { AppError } from '../core/errors.ts'
import type { Db } from '../core/db.ts'
import type { Clock } from '../core/ids.ts'
import type { Buckets } from './buckets.ts'
import { detectContentType } from './bytes/content-type.ts'
import type { DiskStore } from './bytes/disk.ts'
import { ingest } from './bytes/ingest.ts'
import type { Receiver } from './bytes/receiver.ts'
import { fileBody, memoryBody, type FileBody } from './bytes/object-body.ts'
import type { Md5Pool } from './bytes/md5-pool.ts'
import type { Held, Locks } from './locks.ts'
import { checkKey, checkWrite, evaluateRead, isLive, parseRange, partLayout, partRange, preconditionFailed, toInfo, type PartLayout } from './object-meta.ts'
import { deleteObjectRow, findObjectRow, putObjectRow, setObjectTags } from './store.ts'
import type { StorageObjectRow } from './tables.ts'
import type { Tags } from './tags.ts'
import type { Bucket, ByteSource, Conditions, Declared, ObjectInfo, StorageCaller, StoredChecksum } from './types.ts'

export type ObjectDeps = { db: Db; clock: Clock; disk: DiskStore; locks: Locks; buckets: Buckets; md5: Md5Pool; receiver?: Receiver }

export type PutOptions = {
  declared: Declared
  /** Client-declared type; undefined → detected from the content. */
  contentType?: string
  meta?: Record<string, string>
  headers?: Record<string, string>
  conditions?: Conditions
  tags?: Tags
  signal?: AbortSignal
}

/** A new object file and its metadata; `parts` is a multipart object's layout as stored (see tables.ts). */
export type NewObject = { file: string; size: number; etag: string; contentType: string; meta: Record<string, string>; headers: Record<string, string>; checksum: StoredChecksum | null; partsCount: number | null; tags: Tags; parts?: string | null }

export type Download =
  | { status: 304; info: ObjectInfo }
  | { status: 200 | 206; info: ObjectInfo; range: { start: number; end: number } | null; body: FileBody }

const ROW_CACHE = 10_000
/** Objects (or ranges) up to this size are read in one go. */
const SMALL = 128 * 1024
const noSuchKey = () => new AppError(404, 'NoSuchKey', 'The specified key does not exist.')

export function createObjects(d: ObjectDeps) {
  /**
   * Recently read object rows. Every change to a row happens in this process
   * under that object's write lock and updates or forgets the entry, and reads
   * fill it under the read lock, so an entry is never older than the row.
   */
  const rows = new Map<string, StorageObjectRow>()
  const remember = (r: StorageObjectRow) => {
    const k = `${r.bucket}/${r.key}`
    rows.delete(k)
    rows.set(k, r)
    if (rows.size > ROW_CACHE) rows.delete(rows.keys().next().value!)
  }
  const forget = (bucket: string, key: string) => void rows.delete(`${bucket}/${key}`)

  /**
   * Points (bucket, key) at a new file under the write lock, after checking
   * write preconditions. The replaced file is deleted; on failure the new one is.
   */
  async function commit(b: Bucket, key: string, o: NewObject, conditions: Conditions = {}, also?: (tx: Db) => Promise<void>): Promise<ObjectInfo> {
    let held: Held | undefined
    let old: string | undefined
    let row: StorageObjectRow
    try {
      held = await d.locks.write(b.name, key)
      held.signal.throwIfAborted()
      const cur = await findObjectRow(d.db, b.name, key)
      checkWrite(cur && isLive(cur, d.clock.now()) ? toInfo(cur) : undefined, conditions)
      const now = d.clock.now()
      row = {
        bucket: b.name,
        key,
        file: o.file,
        size: o.size,
        etag: o.etag,
        content_type: o.contentType,
        last_modified: now,
        expires_at: b.ttlSeconds ? now + b.ttlSeconds * 1000 : null,
        meta: JSON.stringify(o.meta),
        headers: JSON.stringify(o.headers),
        checksum_algorithm: o.checksum?.algorithm ?? null,
        checksum: o.checksum?.value ?? null,
        checksum_type: o.checksum?.type ?? null,
        parts_count: o.partsCount,
        tags: JSON.stringify(o.tags),
        parts: o.parts ?? null,
      }
      forget(b.name, key)
      old = await d.db.transaction().execute(async (tx) => {
        const prev = await putObjectRow(tx, row)
        await also?.(tx)
        return prev
      })
      remember(row)
    } catch (e) {
      await d.disk.remove(o.file)
      throw e
    } finally {
      held?.release()
    }
    d.disk.settle(o.file)
    if (old && old !== o.file) d.disk.retire(old)
    return toInfo(row)
  }

  /** The live object, under a read lock the caller must release. */
  async function lookup(b: Bucket, key: string): Promise<{ held: Held; row: StorageObjectRow }> {
    const held = await d.locks.read(b.name, key)
    try {
      let row = rows.get(`${b.name}/${key}`)
      if (!row) {
        row = await findObjectRow(d.db, b.name, key)
        if (row) remember(row)
      }
      if (!row || !isLive(row, d.clock.now())) throw noSuchKey()
      return { held, row }
    } catch (e) {
      held.release()
      throw e
    }
  }

  return {
    commit,
    /** For writers outside this module (the sweeper) that change a row under its write lock. */
    forget,

    /** Stores an object from a stream. Declared lengths and digests are verified before anything is committed. */
    async put(c: StorageCaller, bucket: string, key: string, body: ByteSource, o: PutOptions): Promise<ObjectInfo> {
      checkKey(key)
      const b = d.buckets.authorize(c, bucket, 'write')
      // Cheap early answer for create-only writes; the check that counts is at commit.
      if (o.conditions?.ifNoneMatch?.trim() === '*') {
        const cur = await findObjectRow(d.db, b.name, key)
        if (cur && isLive(cur, d.clock.now())) throw preconditionFailed()
      }
      const w = await ingest(d, body, o.declared, { maxSize: b.maxObjectSize, signal: o.signal })
      let contentType = o.contentType
      try {
        contentType ||= await detectContentType(w.head, key)
      } catch (e) {
        await d.disk.remove(w.file)
        throw e
      }
      const checksum = w.checksum ? { ...w.checksum, type: 'FULL_OBJECT' as const } : null
      return commit(b, key, { file: w.file, size: w.size, etag: w.md5, contentType, meta: o.meta ?? {}, headers: o.headers ?? {}, checksum, partsCount: null, tags: o.tags ?? [] }, o.conditions)
    },

    /** Metadata only, after preconditions (304 as a status, 412 thrown); with `partNumber`, that part's range. */
    async head(c: StorageCaller, bucket: string, key: string, conditions: Conditions = {}, partNumber?: number): Promise<{ status: 200 | 304; info: ObjectInfo; range: { start: number; end: number } | null }> {
      checkKey(key)
      const b = d.buckets.authorize(c, bucket, 'read')
      const { held, row } = await lookup(b, key)
      held.release()
      const info = toInfo(row)
      const r = evaluateRead(info, conditions)
      if (r === 'failed') throw preconditionFailed()
      return { status: r === 'not_modified' ? 304 : 200, info, range: partNumber === undefined ? null : partRange(row, partNumber) }
    },

    /** The part layout of an object (GetObjectAttributes). */
    async parts(c: StorageCaller, bucket: string, key: string, conditions: Conditions = {}): Promise<{ info: ObjectInfo; parts: PartLayout | null }> {
      checkKey(key)
      const b = d.buckets.authorize(c, bucket, 'read')
      const { held, row } = await lookup(b, key)
      held.release()
      const info = toInfo(row)
      const r = evaluateRead(info, conditions)
      if (r === 'failed') throw preconditionFailed()
      if (r === 'not_modified') throw new AppError(304, 'NotModified', 'Not Modified')
      return { info, parts: partLayout(row) }
    },

    /** Opens an object for reading: a byte stream of the whole object or the requested range. */
    async get(c: StorageCaller, bucket: string, key: string, o: { range?: string; partNumber?: number; conditions?: Conditions } = {}): Promise<Download> {
      checkKey(key)
      const b = d.buckets.authorize(c, bucket, 'read')
      const { held, row } = await lookup(b, key)
      try {
        const info = toInfo(row)
        const r = evaluateRead(info, o.conditions ?? {})
        if (r === 'failed') throw preconditionFailed()
        if (r === 'not_modified') {
          held.release()
          return { status: 304, info }
        }
        const range = o.partNumber !== undefined ? partRange(row, o.partNumber) : parseRange(o.range, info.size)
        const fh = await d.disk.open(row.file)
        const start = range?.start ?? 0
        const end = range?.end ?? info.size - 1
        if (end - start + 1 <= SMALL) {
          // Small objects: one read, lock released at once, no stream machinery per request.
          try {
            const buf = Buffer.allocUnsafe(end - start + 1)
            const { bytesRead } = await fh.read(buf, 0, buf.length, start)
            if (bytesRead !== buf.length) throw new Error('object file shorter than its metadata')
            return { status: range ? 206 : 200, info, range, body: memoryBody(buf) }
          } finally {
            held.release()
            await fh.close()
          }
        }
        const body = fileBody(fh, start, end, held)
        return { status: range ? 206 : 200, info, range, body }
      } catch (e) {
        held.release()
        throw e
      }
    },

    /** Replaces an object's tags (PutObjectTagging; [] deletes them) under its write lock. */
    async setTags(c: StorageCaller, bucket: string, key: string, tags: Tags): Promise<void> {
      checkKey(key)
      const b = d.buckets.authorize(c, bucket, 'write')
      const held = await d.locks.write(b.name, key)
      try {
        const row = await findObjectRow(d.db, b.name, key)
        if (!row || !isLive(row, d.clock.now())) throw noSuchKey()
        forget(b.name, key)
        await setObjectTags(d.db, b.name, key, JSON.stringify(tags))
      } finally {
        held.release()
      }
    },

    /** Deletes an object; succeeds whether or not it existed. */
    async delete(c: StorageCaller, bucket: string, key: string): Promise<void> {
      checkKey(key)
      const b = d.buckets.authorize(c, bucket, 'write')
      const held = await d.locks.write(b.name, key)
      let file: string | undefined
      try {
        forget(b.name, key)
        file = await deleteObjectRow(d.db, b.name, key)
      } finally {
        held.release()
      }
      if (file) d.disk.retire(file)
    },

    /**
     * Copies an object (server side). Metadata is copied unless `replace` gives
     * new metadata; copying an object onto itself must change something.
     */
    async copy(
      c: StorageCaller,
      src: { bucket: string; key: string; conditions?: Conditions },
      dst: { bucket: string; key: string; conditions?: Conditions },
      replace?: { contentType?: string; meta: Record<string, string>; headers: Record<string, string> },
      tags?: Tags,
    ): Promise<ObjectInfo> {
      checkKey(src.key)
      checkKey(dst.key)
      const sb = d.buckets.authorize(c, src.bucket, 'read')
      const db = d.buckets.authorize(c, dst.bucket, 'write')
      if (sb.name === db.name && src.key === dst.key && !replace)
        throw new AppError(400, 'InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.')
      const { held, row } = await lookup(sb, src.key)
      let file: string
      let info: ObjectInfo
      try {
        info = toInfo(row)
        if (evaluateRead(info, src.conditions ?? {}) !== 'ok') throw preconditionFailed()
        if (info.size > db.maxObjectSize) throw new AppError(413, 'EntityTooLarge', `object exceeds the bucket's limit of ${db.maxObjectSize} bytes`)
        file = (await d.disk.concat([{ file: row.file }])).file
      } finally {
        held.release()
      }
      return commit(
        db,
        dst.key,
        {
          file,
          size: info.size,
          etag: info.etag,
          contentType: replace ? (replace.contentType ?? info.contentType) : info.contentType,
          meta: replace ? replace.meta : info.meta,
          headers: replace ? replace.headers : info.headers,
          checksum: info.checksum,
          partsCount: info.partsCount,
          tags: tags ?? info.tags,
          parts: row.parts,
        },
        dst.conditions,
      )
    },
  }
}
export type Objects = ReturnType<typeof createObjects>
