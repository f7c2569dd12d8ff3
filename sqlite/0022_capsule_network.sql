-- A capsule's network mode (none | nestbox | internet), its egress allow-list
-- (JSON array of CIDRs / host names, NULL = unrestricted) and the ports anyone
-- may open without credentials (JSON array). Capsules created before had loopback only.
ALTER TABLE capsules ADD COLUMN network TEXT NOT NULL DEFAULT 'none';
ALTER TABLE capsules ADD COLUMN allow_out TEXT;
ALTER TABLE capsules ADD COLUMN public_ports TEXT NOT NULL DEFAULT '[]';
