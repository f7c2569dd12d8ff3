-- Account lifecycle: activation state and single-use email tokens (activation, password reset).
ALTER TABLE users ADD COLUMN activated_at INTEGER;
UPDATE users SET activated_at = created_at WHERE is_active = 1;

CREATE TABLE email_tokens (
  token_hash TEXT PRIMARY KEY,               -- SHA-256 of the token sent by email
  user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose    TEXT NOT NULL CHECK (purpose IN ('activate', 'reset')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expiry ON email_tokens (expires_at);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX users_deleted ON users (deleted_at) WHERE deleted_at IS NOT NULL;
