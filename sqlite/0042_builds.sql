-- Template builds (/v1/admin/builds): a recipe run in a capsule, snapshotted into a platform template.
CREATE TABLE template_builds (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,             -- the template it makes
  base_template TEXT NOT NULL,
  recipe        TEXT NOT NULL,             -- JSON array of recipe lines
  healthcheck   TEXT NOT NULL DEFAULT '',
  vcpus         INTEGER,
  memory_mb     INTEGER,
  team_id       TEXT NOT NULL,             -- the team whose capsule runs the build
  created_by    TEXT NOT NULL DEFAULT '',
  status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'success', 'failed', 'cancelled')),
  current_step  INTEGER NOT NULL DEFAULT 0,
  total_steps   INTEGER NOT NULL,
  logs          TEXT NOT NULL DEFAULT '[]', -- JSON array, one entry per step (and the healthcheck)
  error         TEXT,
  sandbox_id    TEXT,
  template_id   TEXT,
  created_at    INTEGER NOT NULL,
  started_at    INTEGER,
  completed_at  INTEGER
);
CREATE INDEX template_builds_status ON template_builds (status, created_at);
CREATE INDEX template_builds_created ON template_builds (created_at);
