-- Capsules, their templates, state transitions, metrics tiers and usage.
CREATE TABLE capsule_templates (
  id                TEXT PRIMARY KEY,
  team_id           TEXT REFERENCES teams (id) ON DELETE CASCADE,  -- NULL: platform template, visible to every team
  name              TEXT NOT NULL,
  type              TEXT NOT NULL CHECK (type IN ('base', 'snapshot')),
  vcpus             INTEGER,
  memory_mb         INTEGER,
  size_bytes        INTEGER NOT NULL DEFAULT 0,
  root_dir          TEXT,                                          -- NULL: the host system, read-only
  source_capsule_id TEXT,
  metadata          TEXT NOT NULL DEFAULT '{}',
  created_at        INTEGER NOT NULL
);
CREATE UNIQUE INDEX capsule_templates_name ON capsule_templates (COALESCE(team_id, ''), name);
INSERT INTO capsule_templates (id, team_id, name, type, metadata, created_at)
VALUES ('tpl-minimal', NULL, 'minimal', 'base', '{"description":"the host system, read-only, with a private writable layer"}', 0);

CREATE TABLE capsules (
  id             TEXT PRIMARY KEY,
  team_id        TEXT NOT NULL REFERENCES teams (id),
  created_by     TEXT NOT NULL DEFAULT '',
  template_id    TEXT NOT NULL,             -- no FK: destroyed capsules keep naming deleted templates
  template       TEXT NOT NULL,
  status         TEXT NOT NULL,
  vcpus          INTEGER NOT NULL,
  memory_mb      INTEGER NOT NULL,
  disk_size_mb   INTEGER NOT NULL,
  timeout_sec    INTEGER NOT NULL DEFAULT 0,
  metadata       TEXT NOT NULL DEFAULT '{}',
  error          TEXT,
  created_at     INTEGER NOT NULL,
  started_at     INTEGER,
  last_active_at INTEGER,
  updated_at     INTEGER NOT NULL,
  destroyed_at   INTEGER
);
CREATE INDEX capsules_team_live ON capsules (team_id, created_at) WHERE destroyed_at IS NULL;
CREATE INDEX capsules_status_live ON capsules (status) WHERE destroyed_at IS NULL;
CREATE INDEX capsules_template_live ON capsules (template_id) WHERE destroyed_at IS NULL;

-- Every state change, in order; also the source of the team's running/reserved series.
CREATE TABLE capsule_transitions (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  capsule_id  TEXT NOT NULL,
  team_id     TEXT NOT NULL,
  from_status TEXT NOT NULL,
  to_status   TEXT NOT NULL,
  reason      TEXT NOT NULL DEFAULT '',
  running     INTEGER NOT NULL,   -- the team's totals right after this transition
  vcpus       INTEGER NOT NULL,
  memory_mb   INTEGER NOT NULL,
  at          INTEGER NOT NULL
);
CREATE INDEX capsule_transitions_team_time ON capsule_transitions (team_id, at);
CREATE INDEX capsule_transitions_capsule ON capsule_transitions (capsule_id, seq);

-- Averaged metrics tiers (30 s kept 2 h, 300 s kept 24 h); the 500 ms tier lives in memory.
CREATE TABLE capsule_metrics (
  capsule_id TEXT NOT NULL,
  tier_sec   INTEGER NOT NULL,
  ts         INTEGER NOT NULL,
  cpu_pct    REAL NOT NULL,
  mem_bytes  INTEGER NOT NULL,
  disk_bytes INTEGER NOT NULL,
  PRIMARY KEY (capsule_id, tier_sec, ts)
) WITHOUT ROWID;
CREATE INDEX capsule_metrics_age ON capsule_metrics (tier_sec, ts);

-- Measured usage per team and UTC day.
CREATE TABLE capsule_usage_daily (
  team_id       TEXT NOT NULL,
  day           TEXT NOT NULL,
  cpu_usec      INTEGER NOT NULL DEFAULT 0,
  ram_mb_minutes REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (team_id, day)
) WITHOUT ROWID;
