-- Object storage (lib/storage). Object bytes live in files under the storage
-- directory; these tables say which file holds which object.

CREATE TABLE storage_buckets (
  name            TEXT PRIMARY KEY,
  public_read     INTEGER NOT NULL DEFAULT 0,
  -- SigV4 access key id of the bucket key (NULL: only the master key works).
  access_key      TEXT UNIQUE,
  -- The bucket key. Kept as plaintext because SigV4 needs the secret itself to recompute signatures.
  secret_key      TEXT,
  ttl_seconds     INTEGER,
  max_object_size INTEGER,
  source          TEXT NOT NULL CHECK (source IN ('config', 's3')),
  created_at      INTEGER NOT NULL
);

CREATE TABLE storage_objects (
  bucket             TEXT NOT NULL REFERENCES storage_buckets(name),
  key                TEXT NOT NULL,
  file               TEXT NOT NULL,
  size               INTEGER NOT NULL,
  etag               TEXT NOT NULL,
  content_type       TEXT NOT NULL,
  last_modified      INTEGER NOT NULL,
  expires_at         INTEGER,
  meta               TEXT NOT NULL DEFAULT '{}',
  headers            TEXT NOT NULL DEFAULT '{}',
  checksum_algorithm TEXT,
  checksum           TEXT,
  checksum_type      TEXT,
  parts_count        INTEGER,
  PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE INDEX storage_objects_expiry ON storage_objects(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX storage_objects_file ON storage_objects(file);

CREATE TABLE storage_uploads (
  id                 TEXT PRIMARY KEY,
  bucket             TEXT NOT NULL REFERENCES storage_buckets(name),
  key                TEXT NOT NULL,
  created_at         INTEGER NOT NULL,
  content_type       TEXT,
  meta               TEXT NOT NULL DEFAULT '{}',
  headers            TEXT NOT NULL DEFAULT '{}',
  checksum_algorithm TEXT,
  checksum_type      TEXT,
  -- Set when completed; the upload row is kept a while so a retried Complete answers the same.
  completed_at       INTEGER,
  result             TEXT
);
CREATE INDEX storage_uploads_bucket ON storage_uploads(bucket, key, id);

CREATE TABLE storage_parts (
  upload_id     TEXT NOT NULL REFERENCES storage_uploads(id) ON DELETE CASCADE,
  part_number   INTEGER NOT NULL,
  file          TEXT NOT NULL,
  size          INTEGER NOT NULL,
  etag          TEXT NOT NULL,
  checksum      TEXT,
  last_modified INTEGER NOT NULL,
  PRIMARY KEY (upload_id, part_number)
);
CREATE INDEX storage_parts_file ON storage_parts(file);

-- Generated secrets (the master key when configuration leaves it empty).
CREATE TABLE storage_settings (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
