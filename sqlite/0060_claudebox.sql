-- claudebox (lib/claudebox): named workspaces per surface and team, each a capsule of its own.
CREATE TABLE claudebox_workspaces (
  id TEXT PRIMARY KEY,
  instance TEXT NOT NULL,
  team_id TEXT NOT NULL,
  name TEXT NOT NULL,
  capsule_id TEXT,
  session_id TEXT,
  created_at INTEGER NOT NULL,
  last_run_at INTEGER
);
CREATE UNIQUE INDEX claudebox_workspaces_name ON claudebox_workspaces (instance, team_id, name);

-- The generated bearer token of each surface (a hash) and the team it acts for.
CREATE TABLE claudebox_tokens (
  instance TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL,
  team_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
