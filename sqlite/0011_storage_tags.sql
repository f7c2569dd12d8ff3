-- S3 object tagging: each object's (and each pending upload's) tags, a JSON
-- array of [key, value] pairs in the order they were given.
ALTER TABLE storage_objects ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE storage_uploads ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
