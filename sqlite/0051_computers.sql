-- Graded agent computers of the cloudbox API (lib/runs): a spec per team and content-hash id,
-- its append-only receipt log, and the files agents wrote.
CREATE TABLE computers (
  team_id TEXT NOT NULL,
  id TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (team_id, id)
);

CREATE TABLE computer_receipts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  team_id TEXT NOT NULL,
  computer_id TEXT NOT NULL,
  ts INTEGER NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL
);
CREATE INDEX computer_receipts_computer ON computer_receipts (team_id, computer_id, seq);

CREATE TABLE computer_files (
  team_id TEXT NOT NULL,
  computer_id TEXT NOT NULL,
  path TEXT NOT NULL,
  content TEXT NOT NULL,
  written_at INTEGER NOT NULL,
  PRIMARY KEY (team_id, computer_id, path)
);
