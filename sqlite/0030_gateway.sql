-- LLM gateway (lib/gateway): its settings, virtual keys, team budgets and spend logs.

-- Generated values kept across restarts (the master key's hash when it was generated, not configured).
CREATE TABLE gateway_settings (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- Virtual keys (LiteLLM's /key/* API). Only the SHA-256 of a key is stored.
CREATE TABLE gateway_keys (
  id                    TEXT PRIMARY KEY,
  token_hash            TEXT NOT NULL UNIQUE,
  key_name              TEXT NOT NULL,            -- "sk-...abcd", safe to show
  key_alias             TEXT,
  team_id               TEXT REFERENCES teams (id) ON DELETE CASCADE,
  user_id               TEXT,
  models                TEXT NOT NULL DEFAULT '[]',
  max_budget            REAL,
  budget_duration       TEXT,
  budget_reset_at       INTEGER,
  spend                 REAL NOT NULL DEFAULT 0,
  rpm_limit             INTEGER,
  tpm_limit             INTEGER,
  max_parallel_requests INTEGER,
  metadata              TEXT NOT NULL DEFAULT '{}',
  expires_at            INTEGER,
  blocked               INTEGER NOT NULL DEFAULT 0,
  capsule_id            TEXT,                     -- set on keys minted for one capsule
  created_by            TEXT NOT NULL,            -- a user id, or "master"
  created_at            INTEGER NOT NULL,
  updated_at            INTEGER NOT NULL
);
CREATE INDEX gateway_keys_team ON gateway_keys (team_id);
CREATE UNIQUE INDEX gateway_keys_capsule ON gateway_keys (capsule_id) WHERE capsule_id IS NOT NULL;

-- Per-team budget and limits; a team without a row has none.
CREATE TABLE gateway_team_budgets (
  team_id         TEXT PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
  max_budget      REAL,
  budget_duration TEXT,
  budget_reset_at INTEGER,
  spend           REAL NOT NULL DEFAULT 0,
  rpm_limit       INTEGER,
  tpm_limit       INTEGER,
  updated_at      INTEGER NOT NULL
);

-- One row per call (LiteLLM's spend log fields). Written in batches off the request path.
CREATE TABLE gateway_spend_logs (
  request_id            TEXT PRIMARY KEY,
  call_type             TEXT NOT NULL,
  api_key               TEXT NOT NULL,            -- SHA-256 of the key used
  key_alias             TEXT,
  spend                 REAL NOT NULL,
  prompt_tokens         INTEGER NOT NULL,
  completion_tokens     INTEGER NOT NULL,
  total_tokens          INTEGER NOT NULL,
  cache_read_tokens     INTEGER NOT NULL DEFAULT 0,
  cache_write_tokens    INTEGER NOT NULL DEFAULT 0,
  reasoning_tokens      INTEGER NOT NULL DEFAULT 0,
  start_time            INTEGER NOT NULL,
  end_time              INTEGER NOT NULL,
  completion_start_time INTEGER,
  model                 TEXT NOT NULL,
  model_id              TEXT,
  model_group           TEXT,
  custom_llm_provider   TEXT,
  api_base              TEXT,
  end_user              TEXT,                     -- the request's "user" field
  team_id               TEXT,
  capsule_id            TEXT,
  metadata              TEXT NOT NULL DEFAULT '{}',
  cache_hit             INTEGER NOT NULL DEFAULT 0,
  request_tags          TEXT NOT NULL DEFAULT '[]',
  status                TEXT NOT NULL
);
CREATE INDEX gateway_spend_time ON gateway_spend_logs (start_time);
CREATE INDEX gateway_spend_team ON gateway_spend_logs (team_id, start_time);
CREATE INDEX gateway_spend_key ON gateway_spend_logs (api_key, start_time);
