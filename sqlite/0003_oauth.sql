-- External login providers (GitHub, generic OIDC) linked to accounts, and pending authorization states.
CREATE TABLE oauth_identities (
  provider   TEXT NOT NULL,
  subject    TEXT NOT NULL,                  -- the provider's stable user id
  user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  email      TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  PRIMARY KEY (provider, subject)
);
CREATE UNIQUE INDEX oauth_identities_user ON oauth_identities (user_id, provider);

CREATE TABLE oauth_states (
  state_hash    TEXT PRIMARY KEY,            -- SHA-256 of the state parameter (also in the state cookie)
  provider      TEXT NOT NULL,
  surface       TEXT NOT NULL CHECK (surface IN ('wrenn', 'workspace')),
  link_user_id  TEXT REFERENCES users (id) ON DELETE CASCADE,  -- set when linking to an existing account
  redirect_uri  TEXT NOT NULL,
  code_verifier TEXT NOT NULL DEFAULT '',
  nonce         TEXT NOT NULL DEFAULT '',
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);
