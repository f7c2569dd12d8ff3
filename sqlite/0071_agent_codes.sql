-- One-time codes a local agent registers with (lib/tunnel/agent-service.ts):
-- valid 10 minutes, used once. Only the code's SHA-256 is stored.
CREATE TABLE agent_codes (
  code_hash TEXT PRIMARY KEY,
  team_id TEXT NOT NULL,
  created_by TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);
CREATE INDEX agent_codes_expires ON agent_codes (expires_at);
