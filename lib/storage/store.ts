/** Every storage query. Functions take the Kysely instance (or a transaction) first and return rows. */
import type { Kysely } from 'kysely'
import type { Database } from '../core/db.ts'
import type { StorageBucketRow, StorageObjectRow, StoragePartRow, StorageUploadRow } from './tables.ts'

type Q = Kysely<Database>

/**
 * The smallest string greater than every string that starts with `s`, in code
 * point order (which is SQLite's BINARY order over UTF-8); null when none exists.
 */
export function successor(s: string): string | null {
  const cps = Array.from(s, (c) => c.codePointAt(0)!)
  while (cps.length) {
    let last = cps.pop()! + 1
    if (last === 0xd800) last = 0xe000
    if (last <= 0x10ffff) return String.fromCodePoint(...cps, last)
  }
  return null
}

// ---- settings

export const getSetting = async (db: Q, name: string) =>
  (await db.selectFrom('storage_settings').select('value').where('name', '=', name).executeTakeFirst())?.value
export const setSetting = (db: Q, name: string, value: string) =>
  db.insertInto('storage_settings').values({ name, value }).onConflict((oc) => oc.column('name').doUpdateSet({ value })).execute()

// ---- buckets

export const listBucketRows = (db: Q) => db.selectFrom('storage_buckets').selectAll().orderBy('name').execute()
export const findBucketRow = (db: Q, name: string) => db.selectFrom('storage_buckets').selectAll().where('name', '=', name).executeTakeFirst()
export const findBucketByAccessKey = (db: Q, accessKey: string) =>
  db.selectFrom('storage_buckets').selectAll().where('access_key', '=', accessKey).executeTakeFirst()
export const insertBucketRow = (db: Q, row: StorageBucketRow) => db.insertInto('storage_buckets').values(row).execute()
export const updateBucketRow = (db: Q, name: string, patch: Partial<StorageBucketRow>) =>
  db.updateTable('storage_buckets').set(patch).where('name', '=', name).execute()
export const deleteBucketRow = (db: Q, name: string) => db.deleteFrom('storage_buckets').where('name', '=', name).execute()

export const bucketHasObjects = async (db: Q, bucket: string) =>
  !!(await db.selectFrom('storage_objects').select('key').where('bucket', '=', bucket).limit(1).executeTakeFirst())

/** True when the bucket holds any object or unfinished upload. */
export async function bucketInUse(db: Q, bucket: string): Promise<boolean> {
  if (await bucketHasObjects(db, bucket)) return true
  const u = await db.selectFrom('storage_uploads').select('id').where('bucket', '=', bucket).where('completed_at', 'is', null).limit(1).executeTakeFirst()
  return !!u
}

// ---- objects

export const findObjectRow = (db: Q, bucket: string, key: string) =>
  db.selectFrom('storage_objects').selectAll().where('bucket', '=', bucket).where('key', '=', key).executeTakeFirst()

/** Inserts or replaces an object row; returns the file of the row it replaced. */
export async function putObjectRow(db: Q, row: StorageObjectRow): Promise<string | undefined> {
  const old = await db.selectFrom('storage_objects').select('file').where('bucket', '=', row.bucket).where('key', '=', row.key).executeTakeFirst()
  await db
    .insertInto('storage_objects')
    .values(row)
    .onConflict((oc) => oc.columns(['bucket', 'key']).doUpdateSet({ ...row }))
    .execute()
  return old?.file
}

export const setObjectTags = (db: Q, bucket: string, key: string, tags: string) =>
  db.updateTable('storage_objects').set({ tags }).where('bucket', '=', bucket).where('key', '=', key).execute()

/** Deletes an object row; returns its file. */
export async function deleteObjectRow(db: Q, bucket: string, key: string): Promise<string | undefined> {
  const old = await findObjectRow(db, bucket, key)
  if (!old) return undefined
  await db.deleteFrom('storage_objects').where('bucket', '=', bucket).where('key', '=', key).execute()
  return old.file
}

/** Live objects in key order: key starts with `prefix`, is greater than `after` and at least `from`; at most `limit` rows. */
export function listObjectRows(db: Q, bucket: string, o: { prefix: string; after?: string; from?: string; limit: number; now: number }) {
  let q = db.selectFrom('storage_objects').selectAll().where('bucket', '=', bucket)
  if (o.prefix) q = q.where('key', '>=', o.prefix)
  if (o.after !== undefined) q = q.where('key', '>', o.after)
  if (o.from !== undefined) q = q.where('key', '>=', o.from)
  const upper = o.prefix ? successor(o.prefix) : null
  if (upper !== null) q = q.where('key', '<', upper)
  return q
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', o.now)]))
    .orderBy('key')
    .limit(o.limit)
    .execute()
}

export const expiredObjectRows = (db: Q, now: number, limit: number) =>
  db.selectFrom('storage_objects').select(['bucket', 'key', 'file', 'expires_at']).where('expires_at', '<=', now).orderBy('expires_at').limit(limit).execute()

/** Files referenced by objects or parts whose id starts with the 2-hex `prefix`. */
export async function referencedFiles(db: Q, prefix: string): Promise<Set<string>> {
  const upper = successor(prefix)!
  const a = await db.selectFrom('storage_objects').select('file').where('file', '>=', prefix).where('file', '<', upper).execute()
  const b = await db.selectFrom('storage_parts').select('file').where('file', '>=', prefix).where('file', '<', upper).execute()
  return new Set([...a, ...b].map((r) => r.file))
}

// ---- multipart

export const uploadRowsOfBucket = (db: Q, bucket: string) => db.selectFrom('storage_uploads').select(['id', 'bucket']).where('bucket', '=', bucket).execute()
export const insertUploadRow = (db: Q, row: StorageUploadRow) => db.insertInto('storage_uploads').values(row).execute()
export const findUploadRow = (db: Q, id: string) => db.selectFrom('storage_uploads').selectAll().where('id', '=', id).executeTakeFirst()
export const deleteUploadRow = (db: Q, id: string) => db.deleteFrom('storage_uploads').where('id', '=', id).execute()
export const completeUploadRow = (db: Q, id: string, now: number, result: string) =>
  db.updateTable('storage_uploads').set({ completed_at: now, result }).where('id', '=', id).execute()

/** Open uploads of a bucket in (key, id) order, after the given markers. */
export function listUploadRows(db: Q, bucket: string, o: { prefix: string; keyMarker?: string; uploadIdMarker?: string; limit: number }) {
  let q = db.selectFrom('storage_uploads').selectAll().where('bucket', '=', bucket).where('completed_at', 'is', null)
  if (o.prefix) {
    q = q.where('key', '>=', o.prefix)
    const upper = successor(o.prefix)
    if (upper !== null) q = q.where('key', '<', upper)
  }
  if (o.keyMarker !== undefined) {
    const km = o.keyMarker
    const um = o.uploadIdMarker
    q = um ? q.where((eb) => eb.or([eb('key', '>', km), eb.and([eb('key', '=', km), eb('id', '>', um)])])) : q.where('key', '>', km)
  }
  return q.orderBy('key').orderBy('id').limit(o.limit).execute()
}

/** Uploads to clean: unfinished ones created before `staleBefore`, finished ones completed before `doneBefore`. */
export const oldUploadRows = (db: Q, staleBefore: number, doneBefore: number) =>
  db
    .selectFrom('storage_uploads')
    .select(['id', 'bucket', 'key'])
    .where((eb) => eb.or([eb.and([eb('completed_at', 'is', null), eb('created_at', '<', staleBefore)]), eb('completed_at', '<', doneBefore)]))
    .execute()

/** Inserts or replaces a part; returns the file of the part it replaced. */
export async function putPartRow(db: Q, row: StoragePartRow): Promise<string | undefined> {
  const old = await db.selectFrom('storage_parts').select('file').where('upload_id', '=', row.upload_id).where('part_number', '=', row.part_number).executeTakeFirst()
  await db
    .insertInto('storage_parts')
    .values(row)
    .onConflict((oc) => oc.columns(['upload_id', 'part_number']).doUpdateSet({ ...row }))
    .execute()
  return old?.file
}

export function listPartRows(db: Q, uploadId: string, o: { after?: number; limit?: number } = {}) {
  let q = db.selectFrom('storage_parts').selectAll().where('upload_id', '=', uploadId)
  if (o.after !== undefined) q = q.where('part_number', '>', o.after)
  q = q.orderBy('part_number')
  return o.limit !== undefined ? q.limit(o.limit).execute() : q.execute()
}

export const deletePartRows = (db: Q, uploadId: string) => db.deleteFrom('storage_parts').where('upload_id', '=', uploadId).execute()
