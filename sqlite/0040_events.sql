-- The append-only event log behind /v1/events/stream (seq is the SSE id).
CREATE TABLE events (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  team_id    TEXT,              -- NULL: platform-level, admin stream only
  type       TEXT NOT NULL,
  data       TEXT NOT NULL,     -- the SSE data line (JSON)
  created_at INTEGER NOT NULL
);
CREATE INDEX events_team_seq ON events (team_id, seq);
CREATE INDEX events_created ON events (created_at);
