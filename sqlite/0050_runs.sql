-- Repo runs of the cloudbox API (lib/runs): one row per run, its whole result as JSON once finished.
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL,
  repo TEXT NOT NULL,
  status TEXT NOT NULL,
  request TEXT NOT NULL,
  result TEXT,
  artifact_path TEXT,
  capsule_id TEXT,
  created_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX runs_team_created ON runs (team_id, created_at);
CREATE INDEX runs_created ON runs (created_at);

-- The generated cloudbox API token (a hash) and the team it acts for.
CREATE TABLE cloudbox_tokens (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL,
  team_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
