-- Agent sandboxes (lib/sandboxes): opencode/openclaw services in capsules of a
-- workspace's team ('cloud'), or a local agent reached over a tunnel ('local').
CREATE TABLE sandboxes (
  id TEXT PRIMARY KEY,
  short_id TEXT NOT NULL,
  team_id TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  capsule_id TEXT,
  -- SHA-256 of the local agent's tunnel token (kind 'local' only).
  tunnel_token_hash TEXT,
  -- JSON of the last agent_info a local agent reported.
  agent_info TEXT,
  error TEXT,
  created_by TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_seen_at INTEGER
);
CREATE UNIQUE INDEX sandboxes_short_id ON sandboxes (short_id);
CREATE INDEX sandboxes_team ON sandboxes (team_id, created_at);
CREATE INDEX sandboxes_capsule ON sandboxes (capsule_id);
