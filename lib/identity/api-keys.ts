/**
 * Team API keys: "wrn_" + 32 hex, shown once at creation, stored as SHA-256 and
 * found by that hash through a unique index. A key acts with its creator's
 * current role in the key's team, so demoting or removing the creator narrows
 * or ends the key.
 */
import { invalid, notFound } from '../core/errors.ts'
import type { Principal, Role } from '../core/principal.ts'
import { hash } from 'node:crypto'
import { activeTeam, requireRole } from './access.ts'
import { createTtlCache } from './cache.ts'
import type { IdentityDeps } from './deps.ts'
import { API_KEY_RE, newApiKey } from './keys.ts'
import { deleteApiKey, findApiKeyByHash, findApiKeyInTeam, listApiKeysOfTeam, touchApiKey } from './store.keys.ts'
import { insertApiKey } from './store.ts'

export type KeyPrincipal = Extract<Principal, { kind: 'api_key' }>

/** last_used is advisory; writing it at most once a minute per key keeps key auth off the write path. */
const TOUCH_EVERY_MS = 60_000
/**
 * Resolved keys are cached this long; any identity change clears the cache at
 * once. The cache is keyed by the key as presented, so a cached request costs no
 * hash: only keys that resolved are ever stored, it lives in this process's
 * memory like the request that carried the key, and a Map lookup compares
 * against stored keys only after V8's seeded string hash matches, which
 * leaks nothing an attacker can steer.
 */
const CACHE_MS = 5_000
const CACHE_MAX = 10_000

/** SHA-256 hex of a key (one-shot crypto.hash: cheaper than a Hash object per request). */
const keyHash = (key: string) => hash('sha256', key, 'hex')

export function createApiKeyService(d: IdentityDeps) {
  const lastTouched = new Map<string, number>()
  const cache = createTtlCache<KeyPrincipal>({ ttlMs: CACHE_MS, max: CACHE_MAX, clock: d.clock })

  return {
    /** Forgets every cached key resolution; called after any change to keys, memberships, users or teams. */
    invalidate: () => cache.clear(),

    /** The cached principal for a key, synchronously (the hot path of every keyed request); undefined = ask authenticate(). */
    peek: (key: string): KeyPrincipal | undefined => cache.get(key),

    /** The principal for an API key, or null when the key is malformed, unknown, or its team/user is gone. */
    async authenticate(key: string): Promise<KeyPrincipal | null> {
      const hit = cache.get(key)
      if (hit) return hit
      if (!API_KEY_RE.test(key)) return null
      const now = d.clock.now()
      const row = await findApiKeyByHash(d.db, keyHash(key))
      if (!row || !row.role || row.team_deleted_at != null || row.user_deleted_at != null || !row.is_active) return null
      if (now - (lastTouched.get(row.id) ?? row.last_used_at ?? 0) > TOUCH_EVERY_MS) {
        lastTouched.set(row.id, now)
        await touchApiKey(d.db, row.id, now)
      }
      const p: KeyPrincipal = { kind: 'api_key', keyId: row.id, keyName: row.name, userId: row.created_by, teamId: row.team_id, role: row.role as Role, isAdmin: false }
      cache.set(key, p)
      return p
    },

    /** Creates a key in the caller's active team (member role or higher). The plaintext is returned only here. */
    async create(p: Principal, input: { name?: unknown }) {
      const { teamId, role } = activeTeam(p)
      requireRole(role, 'member')
      const name = input.name === undefined || input.name === null || input.name === '' ? 'Unnamed API Key' : input.name
      if (typeof name !== 'string' || name.trim().length < 1 || name.length > 100) throw invalid('name must be 1 to 100 characters', 'invalid_name')
      const key = newApiKey()
      const row = { id: d.ids.id('key-', 16), team_id: teamId, created_by: (p as KeyPrincipal).userId, name: name.trim(), key_prefix: key.prefix, key_hash: key.hash, created_at: d.clock.now(), last_used_at: null }
      await insertApiKey(d.db, row)
      await d.audit.record(p, { teamId, resourceType: 'api_key', resourceId: row.id, action: 'create', metadata: { name: row.name } })
      return { ...row, key: key.key }
    },

    /** Keys of the caller's active team (never the plaintext). */
    async list(p: Principal) {
      const { teamId } = activeTeam(p)
      return listApiKeysOfTeam(d.db, teamId)
    },

    /** Deletes a key of the caller's team: members their own keys, admins and owners any. Other teams' keys are "not found". */
    async remove(p: Principal, id: string) {
      const { teamId, role } = activeTeam(p)
      requireRole(role, 'member')
      const row = await findApiKeyInTeam(d.db, teamId, id)
      if (!row) throw notFound('API key not found', 'api_key_not_found')
      if (row.created_by !== (p as KeyPrincipal).userId) requireRole(role, 'admin')
      await deleteApiKey(d.db, id)
      cache.clear()
      await d.audit.record(p, { teamId, resourceType: 'api_key', resourceId: id, action: 'delete', metadata: { name: row.name } })
    },
  }
}
export type ApiKeyService = ReturnType<typeof createApiKeyService>
