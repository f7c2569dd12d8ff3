/**
 * Gateway credentials for capsules. A capsule that can reach nestbox gets a
 * virtual key scoped to it and its team (no budget of its own: it spends
 * against the team's), so SDKs inside talk to the gateway and real provider
 * keys never enter the capsule. Minting again (a restarted capsule) rotates
 * the key; destroying the capsule revokes it. Spend logs name the capsule.
 */
import type { Db } from '../../core/db.ts'
import type { Caller } from './callers.ts'
import { badRequest } from '../errors.ts'
import type { VirtualKeys } from './keys.ts'
import { findKeyByCapsule, teamExists } from '../store.ts'

export type CapsuleCredentials = {
  key: string
  /** Environment for the capsule: OPENAI_* and ANTHROPIC_* pointing at the gateway. */
  env: { OPENAI_BASE_URL: string; OPENAI_API_KEY: string; ANTHROPIC_BASE_URL: string; ANTHROPIC_API_KEY: string }
}

/** The gateway acting for nestbox itself (capsule keys are made by the platform, not by a caller). */
const PLATFORM: Caller = { kind: 'master', keyHash: '', keyAlias: 'nestbox', teamId: null, userId: null, role: null, key: null }

export function createCapsuleKeys(d: { db: Db; keys: VirtualKeys }) {
  return {
    /**
     * A key for capsule `capsuleId` of team `teamId` and the variables that
     * point SDKs at the gateway reachable at `baseUrl` (as the capsule sees nestbox).
     */
    async mint(teamId: string, capsuleId: string, baseUrl: string): Promise<CapsuleCredentials> {
      if (!/^https?:\/\/[^\s/]+/.test(baseUrl)) throw badRequest('baseUrl must be an http(s) URL')
      if (!(await teamExists(d.db, teamId))) throw badRequest(`team ${teamId} does not exist`)
      const existing = await findKeyByCapsule(d.db, capsuleId)
      let key: string
      if (existing) {
        if (existing.team_id !== teamId) throw badRequest(`capsule ${capsuleId} belongs to another team`)
        key = (await d.keys.regenerate(PLATFORM, existing.token_hash, {})).token
      } else {
        key = (await d.keys.generate(PLATFORM, { team_id: teamId, key_alias: `capsule:${capsuleId}`, metadata: { capsule_id: capsuleId } }, { capsule_id: capsuleId, created_by: 'nestbox' })).token
      }
      const base = baseUrl.replace(/\/+$/, '')
      return { key, env: { OPENAI_BASE_URL: `${base}/v1`, OPENAI_API_KEY: key, ANTHROPIC_BASE_URL: base, ANTHROPIC_API_KEY: key } }
    },

    /** Revokes the capsule's key (idempotent). Returns whether there was one. */
    async revoke(capsuleId: string): Promise<boolean> {
      const row = await findKeyByCapsule(d.db, capsuleId)
      if (!row) return false
      await d.keys.removeById([row.id], [row.token_hash])
      return true
    },
  }
}
export type CapsuleKeys = ReturnType<typeof createCapsuleKeys>
