/** Single-use email tokens, linked login providers and pending OAuth states. */
import type { Db } from '../core/db.ts'
import type { EmailTokenRow, OAuthIdentityRow, OAuthStateRow } from './tables.ts'

// ---- email tokens (activation, password reset)

export const insertEmailToken = (db: Db, row: EmailTokenRow) => db.insertInto('email_tokens').values(row).execute()

export const findEmailToken = (db: Db, tokenHash: string, purpose: EmailTokenRow['purpose']) =>
  db.selectFrom('email_tokens').selectAll().where('token_hash', '=', tokenHash).where('purpose', '=', purpose).executeTakeFirst()

/** Marks a token used; returns false when it already was (a concurrent use won). */
export const consumeEmailToken = async (db: Db, tokenHash: string, at: number) =>
  Number((await db.updateTable('email_tokens').set({ used_at: at }).where('token_hash', '=', tokenHash).where('used_at', 'is', null).executeTakeFirst()).numUpdatedRows) === 1

export const latestEmailToken = (db: Db, userId: string, purpose: EmailTokenRow['purpose']) =>
  db.selectFrom('email_tokens').selectAll().where('user_id', '=', userId).where('purpose', '=', purpose).orderBy('created_at', 'desc').limit(1).executeTakeFirst()

export const deleteEmailTokensOfUser = (db: Db, userId: string, purpose?: EmailTokenRow['purpose']) => {
  let q = db.deleteFrom('email_tokens').where('user_id', '=', userId)
  if (purpose) q = q.where('purpose', '=', purpose)
  return q.execute()
}

export const deleteExpiredEmailTokens = async (db: Db, now: number) =>
  Number((await db.deleteFrom('email_tokens').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows)

// ---- linked providers

export const findOAuthIdentity = (db: Db, provider: string, subject: string) =>
  db.selectFrom('oauth_identities').selectAll().where('provider', '=', provider).where('subject', '=', subject).executeTakeFirst()

export const listOAuthIdentitiesOfUser = (db: Db, userId: string) =>
  db.selectFrom('oauth_identities').selectAll().where('user_id', '=', userId).orderBy('provider').execute()

export const insertOAuthIdentity = (db: Db, row: OAuthIdentityRow) => db.insertInto('oauth_identities').values(row).execute()

export const deleteOAuthIdentity = async (db: Db, userId: string, provider: string) =>
  Number((await db.deleteFrom('oauth_identities').where('user_id', '=', userId).where('provider', '=', provider).executeTakeFirst()).numDeletedRows)

export const deleteOAuthIdentitiesOfUser = (db: Db, userId: string) => db.deleteFrom('oauth_identities').where('user_id', '=', userId).execute()

// ---- pending authorization states (single use)

export const insertOAuthState = (db: Db, row: OAuthStateRow) => db.insertInto('oauth_states').values(row).execute()

/** Removes and returns the state row: a state can be redeemed once. */
export const takeOAuthState = (db: Db, stateHash: string) =>
  db.deleteFrom('oauth_states').where('state_hash', '=', stateHash).returningAll().executeTakeFirst()

export const deleteExpiredOAuthStates = async (db: Db, now: number) =>
  Number((await db.deleteFrom('oauth_states').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows)
