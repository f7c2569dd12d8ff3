-- The part layout of objects made by CompleteMultipartUpload (JSON array of
-- [size, checksum or null] per part, in order), for GET ?partNumber= and
-- GetObjectAttributes; NULL for objects uploaded in one piece.
ALTER TABLE storage_objects ADD COLUMN parts TEXT;
