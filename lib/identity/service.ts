/** Identity: resolves credentials to principals and answers who-am-I. Extended by the identity issue. */
import type { Db } from '../core/db.ts'
import { notFound } from '../core/errors.ts'
import type { Clock } from '../core/ids.ts'
import type { Principal } from '../core/principal.ts'
import { sha256hex } from '../core/secrets.ts'
import { API_KEY_RE } from './keys.ts'
import { findApiKeyByHash, findUserById, touchApiKey } from './store.ts'

/** last_used is advisory; writing it at most once a minute per key keeps key auth off the write path. */
const TOUCH_EVERY_MS = 60_000

export function createIdentityService(d: { db: Db; clock: Clock }) {
  const lastTouched = new Map<string, number>()

  return {
    /** The principal for an API key, or null when the key is malformed, unknown or its team/user is gone. */
    async authenticateApiKey(key: string): Promise<Principal | null> {
      if (!API_KEY_RE.test(key)) return null
      const row = await findApiKeyByHash(d.db, sha256hex(key))
      if (!row || !row.role || row.team_deleted_at != null || row.user_deleted_at != null || !row.is_active) return null
      const now = d.clock.now()
      if (now - (lastTouched.get(row.id) ?? row.last_used_at ?? 0) > TOUCH_EVERY_MS) {
        lastTouched.set(row.id, now)
        await touchApiKey(d.db, row.id, now)
      }
      return { kind: 'api_key', keyId: row.id, keyName: row.name, userId: row.created_by, teamId: row.team_id, role: row.role, isAdmin: false }
    },

    /** The caller's profile. */
    async me(p: Principal) {
      if (p.kind !== 'user' && p.kind !== 'api_key') throw notFound('no user')
      const u = await findUserById(d.db, p.userId)
      if (!u) throw notFound('user not found')
      return { id: u.id, name: u.name, email: u.email, hasPassword: u.password_hash != null, isAdmin: !!u.is_admin, teamId: p.teamId }
    },
  }
}
export type IdentityService = ReturnType<typeof createIdentityService>
