-- Identity base: users, teams, memberships, API keys, sessions, audit log.
CREATE TABLE users (
  id            TEXT PRIMARY KEY,
  email         TEXT NOT NULL COLLATE NOCASE,
  name          TEXT NOT NULL DEFAULT '',
  password_hash TEXT,
  is_active     INTEGER NOT NULL DEFAULT 0,
  is_admin      INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  deleted_at    INTEGER
);
CREATE UNIQUE INDEX users_email_live ON users (email) WHERE deleted_at IS NULL;

CREATE TABLE teams (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  slug       TEXT NOT NULL UNIQUE,
  is_byoc    INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  deleted_at INTEGER
);

CREATE TABLE team_members (
  team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
  user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,
  team_id      TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
  created_by   TEXT NOT NULL REFERENCES users (id),
  name         TEXT NOT NULL,
  key_prefix   TEXT NOT NULL,
  key_hash     TEXT NOT NULL UNIQUE,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER
);
CREATE INDEX api_keys_team ON api_keys (team_id);

CREATE TABLE sessions (
  id             TEXT PRIMARY KEY,          -- public id ("ses-..."): listed and revoked by it
  token_hash     TEXT NOT NULL UNIQUE,      -- SHA-256 of the session cookie value
  surface        TEXT NOT NULL DEFAULT 'wrenn' CHECK (surface IN ('wrenn', 'workspace')),
  user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  team_id        TEXT REFERENCES teams (id) ON DELETE SET NULL,
  csrf_hash      TEXT NOT NULL,             -- SHA-256 of the wrenn_csrf cookie value
  user_agent     TEXT NOT NULL DEFAULT '',
  ip_address     TEXT NOT NULL DEFAULT '',
  created_at     INTEGER NOT NULL,
  last_seen_at   INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL           -- absolute lifetime end
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE audit_logs (
  id            TEXT PRIMARY KEY,
  team_id       TEXT,
  actor_type    TEXT NOT NULL CHECK (actor_type IN ('user', 'api_key', 'host', 'system')),
  actor_id      TEXT NOT NULL DEFAULT '',
  actor_name    TEXT NOT NULL DEFAULT '',
  resource_type TEXT NOT NULL,
  resource_id   TEXT NOT NULL DEFAULT '',
  action        TEXT NOT NULL,
  status        TEXT NOT NULL DEFAULT 'success',
  metadata      TEXT NOT NULL DEFAULT '{}',
  created_at    INTEGER NOT NULL
);
CREATE INDEX audit_logs_team_time ON audit_logs (team_id, created_at DESC, id DESC);
CREATE INDEX audit_logs_time ON audit_logs (created_at DESC, id DESC);
