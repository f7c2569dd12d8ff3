/**
 * First start: with no users at all, create an admin, their team and an API key.
 * Returns the lines for bootstrap.txt, or null when the database already has users.
 */
import { randomBytes } from 'node:crypto'
import type { Db } from '../core/db.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import { hashPassword } from '../core/secrets.ts'
import { newApiKey } from './keys.ts'
import { countUsers, insertApiKey, insertMember, insertTeam, insertUser } from './store.ts'

export type AdminPassword = { plain: string; hash: Promise<string> }

/** A random admin password whose scrypt hash starts now, so a caller can overlap it with other start-up work. */
export function newAdminPassword(): AdminPassword {
  const plain = randomBytes(12).toString('base64url')
  const hash = hashPassword(plain)
  hash.catch(() => {}) // awaited (and rethrown) by bootstrapAdmin when it is needed
  return { plain, hash }
}

export async function bootstrapAdmin(d: { db: Db; clock: Clock; ids: IdGen; adminEmail: string; password?: AdminPassword }): Promise<string[] | null> {
  if ((await countUsers(d.db)) > 0) return null
  const now = d.clock.now()
  const { plain: password, hash } = d.password ?? newAdminPassword()
  const passwordHash = await hash
  const userId = d.ids.id('usr-', 16)
  const teamId = d.ids.id('team-', 16)
  const key = newApiKey()
  const inserted = await d.db.transaction().execute(async (tx) => {
    // Re-check inside the transaction: two processes starting at once must not both create an admin.
    if ((await countUsers(tx)) > 0) return false
    await insertUser(tx, { id: userId, email: d.adminEmail, name: 'Admin', password_hash: passwordHash, is_active: 1, is_admin: 1, created_at: now, updated_at: now, deleted_at: null })
    await insertTeam(tx, { id: teamId, name: 'Admin', slug: 'admin', is_byoc: 0, created_at: now, deleted_at: null })
    await insertMember(tx, { team_id: teamId, user_id: userId, role: 'owner', created_at: now })
    await insertApiKey(tx, { id: d.ids.id('key-', 16), team_id: teamId, created_by: userId, name: 'bootstrap', key_prefix: key.prefix, key_hash: key.hash, created_at: now, last_used_at: null })
    return true
  })
  if (!inserted) return null
  return [
    '# nestbox first-start credentials. Shown once; store them and delete this file.',
    `admin_email=${d.adminEmail}`,
    `admin_password=${password}`,
    `team_id=${teamId}`,
    `api_key=${key.key}`,
  ]
}
