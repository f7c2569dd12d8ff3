-- Notification channels (team-scoped) and their delivery queue.
CREATE TABLE channels (
  id         TEXT PRIMARY KEY,
  team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  provider   TEXT NOT NULL,
  events     TEXT NOT NULL,              -- JSON array of event types
  config     TEXT NOT NULL,              -- provider config, AES-256-GCM sealed (channels/crypto.ts)
  created_by TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX channels_team_name ON channels (team_id, name);

-- One row per (event, channel); survives restarts; retried with backoff.
CREATE TABLE channel_deliveries (
  id              TEXT PRIMARY KEY,
  channel_id      TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
  team_id         TEXT NOT NULL,
  event_seq       INTEGER NOT NULL,
  event_type      TEXT NOT NULL,
  payload         TEXT NOT NULL,         -- the event's JSON payload (as streamed)
  status          TEXT NOT NULL CHECK (status IN ('queued', 'delivered', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_status     INTEGER,               -- HTTP status of the last attempt, if any
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX channel_deliveries_due ON channel_deliveries (next_attempt_at) WHERE status = 'queued';
CREATE INDEX channel_deliveries_channel ON channel_deliveries (channel_id, updated_at);
CREATE INDEX channel_deliveries_age ON channel_deliveries (updated_at) WHERE status <> 'queued';
