/** Kysely row types of the storage tables (sqlite/0010_storage.sql). */

export interface StorageBucketRow {
  name: string
  public_read: number
  access_key: string | null
  secret_key: string | null
  ttl_seconds: number | null
  max_object_size: number | null
  source: 'config' | 's3'
  created_at: number
}

export interface StorageObjectRow {
  bucket: string
  key: string
  file: string
  size: number
  etag: string
  content_type: string
  last_modified: number
  expires_at: number | null
  /** JSON object of x-amz-meta-* values (names without the prefix, lowercase). */
  meta: string
  /** JSON object of stored response headers (cache-control, content-disposition, ...). */
  headers: string
  checksum_algorithm: string | null
  checksum: string | null
  checksum_type: string | null
  parts_count: number | null
  /** JSON array of [key, value] tag pairs. */
  tags: string
  /** Multipart objects: JSON array of [size, checksum | null] per part; null otherwise. */
  parts: string | null
}

export interface StorageUploadRow {
  id: string
  bucket: string
  key: string
  created_at: number
  content_type: string | null
  meta: string
  headers: string
  checksum_algorithm: string | null
  checksum_type: string | null
  completed_at: number | null
  result: string | null
  /** JSON array of [key, value] tag pairs the object will get. */
  tags: string
}

export interface StoragePartRow {
  upload_id: string
  part_number: number
  file: string
  size: number
  etag: string
  checksum: string | null
  last_modified: number
}

export interface StorageTables {
  storage_buckets: StorageBucketRow
  storage_objects: StorageObjectRow
  storage_uploads: StorageUploadRow
  storage_parts: StoragePartRow
  storage_settings: { name: string; value: string }
}
