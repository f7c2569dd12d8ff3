/**
 * Virtual keys (LiteLLM's /key/* API) and their live state. A key resolved once
 * stays in memory with its spend, so budget checks on the hot path read memory;
 * the spend writer adds each call's cost to the stored row in its batches.
 * Only a key's SHA-256 is stored; the plaintext is shown once, at generation.
 */
import { randomBytes } from 'node:crypto'
import type { Db } from '../../core/db.ts'
import type { Clock, IdGen } from '../../core/ids.ts'
import { roleAtLeast } from '../../core/principal.ts'
import type { Caller } from './callers.ts'
import { keyHash } from './callers.ts'
import { nextBudgetReset, parseDuration } from './durations.ts'
import { parseObjectPermission } from './object-permission.ts'
import { badRequest, keyNotFound, notAllowed } from '../errors.ts'
import { countKeys, deleteKeys, findKeyByHash, insertKey, listKeys, teamExists, updateKey } from '../store.ts'
import type { GatewayKeyRow } from '../tables.ts'

export type KeyState = { row: GatewayKeyRow; models: string[]; metadata: Record<string, unknown>; caller: Caller }

const FIELDS = ['models', 'duration', 'max_budget', 'budget_duration', 'rpm_limit', 'tpm_limit', 'max_parallel_requests', 'metadata', 'key_alias', 'team_id', 'user_id', 'key', 'blocked', 'spend', 'object_permission'] as const
const CACHE_MAX = 50_000

export const newKeyToken = () => `sk-${randomBytes(24).toString('base64url')}`
const keyName = (token: string) => `sk-...${token.slice(-4)}`

type Input = Record<string, unknown>

function optNumber(v: unknown, name: string, int = false): number | null | undefined {
  if (v === undefined) return undefined
  if (v === null) return null
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (int && !Number.isInteger(v))) throw badRequest(`${name} must be a non-negative ${int ? 'integer' : 'number'}`, name)
  return v
}
function optString(v: unknown, name: string, max = 200): string | null | undefined {
  if (v === undefined) return undefined
  if (v === null) return null
  if (typeof v !== 'string' || v.length > max) throw badRequest(`${name} must be a string of at most ${max} characters`, name)
  return v
}

export function createVirtualKeys(d: { db: Db; clock: Clock; ids: IdGen; timezone: string }) {
  const byToken = new Map<string, KeyState>()
  const byHash = new Map<string, KeyState>()

  const stateOf = (row: GatewayKeyRow): KeyState => {
    const state: KeyState = { row, models: JSON.parse(row.models) as string[], metadata: JSON.parse(row.metadata) as Record<string, unknown>, caller: undefined as unknown as Caller }
    state.caller = { kind: 'virtual', keyHash: row.token_hash, keyAlias: row.key_alias, teamId: row.team_id, userId: row.user_id, role: null, key: state }
    return state
  }
  const forget = (hash: string) => {
    const s = byHash.get(hash)
    if (!s) return
    byHash.delete(hash)
    for (const [t, v] of byToken) if (v === s) byToken.delete(t)
  }
  /** Replaces a cached key's row in place, so callers holding its state see the change. */
  const refresh = (row: GatewayKeyRow, spendSet = false) => {
    const s = byHash.get(row.token_hash)
    if (!s) return
    // The cached spend includes calls the spend writer has not stored yet.
    s.row = spendSet ? row : { ...row, spend: s.row.spend }
    s.models = JSON.parse(row.models) as string[]
    s.metadata = JSON.parse(row.metadata) as Record<string, unknown>
    Object.assign(s.caller, { keyAlias: row.key_alias, teamId: row.team_id, userId: row.user_id })
  }

  /** Which keys the caller may manage: the master key any; a team admin (wrn_ key) its team's. */
  function scopeOf(c: Caller): { teamId: string | null; all: boolean } {
    if (c.kind === 'master') return { teamId: null, all: true }
    if (c.kind === 'team_key' && roleAtLeast(c.role, 'admin')) return { teamId: c.teamId, all: false }
    throw notAllowed('managing keys needs the master key or a team admin\'s nestbox API key')
  }

  /** The stored row of `ref` (plaintext sk- key or its hash) if the caller may see it; 404 otherwise, so existence does not leak. */
  async function reach(c: Caller, ref: unknown): Promise<GatewayKeyRow> {
    if (typeof ref !== 'string' || !ref) throw badRequest('key is required', 'key')
    const hash = ref.startsWith('sk-') ? keyHash(ref) : ref
    if (c.kind === 'virtual' && c.keyHash === hash) return (await findKeyByHash(d.db, hash)) ?? c.key!.row
    const scope = scopeOf(c)
    const row = await findKeyByHash(d.db, hash)
    if (!row || (!scope.all && row.team_id !== scope.teamId)) throw keyNotFound(`Key not found: ${ref.startsWith('sk-') ? keyName(ref) : ref}`)
    return row
  }

  /** Parses the settable fields of generate/update into a row patch. */
  async function patchOf(c: Caller, b: Input, creating: boolean): Promise<Partial<GatewayKeyRow>> {
    const scope = scopeOf(c)
    const p: Partial<GatewayKeyRow> = {}
    const now = d.clock.now()
    if (b.models !== undefined) {
      if (!Array.isArray(b.models) || !b.models.every((m) => typeof m === 'string')) throw badRequest('models must be a list of model names', 'models')
      p.models = JSON.stringify(b.models)
    }
    if (b.duration !== undefined) {
      const ms = b.duration === null ? null : parseDuration(b.duration)
      if (b.duration !== null && ms === null) throw badRequest('duration must be like "30s", "30m", "30h" or "30d"', 'duration')
      p.expires_at = ms === null ? null : now + ms
    }
    const mb = optNumber(b.max_budget, 'max_budget')
    if (mb !== undefined) p.max_budget = mb
    if (b.budget_duration !== undefined) {
      const bd = optString(b.budget_duration, 'budget_duration', 16)
      if (bd && nextBudgetReset(bd, now, d.timezone) === null) throw badRequest('budget_duration must be like "30s", "30m", "1h", "1d", "7d" or "30d"', 'budget_duration')
      p.budget_duration = bd ?? null
      p.budget_reset_at = bd ? nextBudgetReset(bd, now, d.timezone) : null
    }
    for (const k of ['rpm_limit', 'tpm_limit', 'max_parallel_requests'] as const) {
      const v = optNumber(b[k], k, true)
      if (v !== undefined) p[k] = v
    }
    if (b.metadata !== undefined) {
      if (b.metadata === null || typeof b.metadata !== 'object' || Array.isArray(b.metadata)) throw badRequest('metadata must be an object', 'metadata')
      p.metadata = JSON.stringify(b.metadata)
    }
    if (b.object_permission !== undefined) p.object_permission = parseObjectPermission(b.object_permission)
    const alias = optString(b.key_alias, 'key_alias')
    if (alias !== undefined) p.key_alias = alias
    const user = optString(b.user_id, 'user_id')
    if (user !== undefined) p.user_id = user
    if (b.spend !== undefined) {
      if (!scope.all) throw notAllowed('only the master key may set spend')
      p.spend = optNumber(b.spend, 'spend') ?? 0
    }
    if (b.team_id !== undefined || creating) {
      const team = b.team_id === undefined ? scope.teamId : optString(b.team_id, 'team_id', 64)
      if (!scope.all && team !== scope.teamId) throw notAllowed('a team admin may only manage keys of their own team')
      if (team && !(await teamExists(d.db, team))) throw badRequest(`team_id ${team} is not a nestbox team`, 'team_id')
      p.team_id = team ?? null
    }
    return p
  }

  const hit = (token: string, s: KeyState) => {
    if (byToken.size >= CACHE_MAX) {
      byToken.clear()
      byHash.clear()
    }
    byToken.set(token, s)
    byHash.set(s.row.token_hash, s)
  }

  return {
    /** The live state of a key seen before (synchronous hot path). */
    peek: (token: string) => byToken.get(token),
    /** Loads a key by its hash (first use after start). */
    async load(token: string, hash: string): Promise<KeyState | null> {
      const cached = byHash.get(hash)
      if (cached) {
        hit(token, cached)
        return cached
      }
      const row = await findKeyByHash(d.db, hash)
      if (!row) return null
      const s = byHash.get(hash) ?? stateOf(row)
      hit(token, s)
      return s
    },
    /** Live state by hash, when loaded (the spend writer and capsule revocation use it). */
    byHash: (hash: string) => byHash.get(hash),

    /** POST /key/generate. Returns the row and the plaintext key (shown once). */
    async generate(c: Caller, b: Input, extra: Partial<GatewayKeyRow> = {}) {
      for (const k of Object.keys(b)) if (!(FIELDS as readonly string[]).includes(k) && k !== 'send_invite_email' && k !== 'aliases' && k !== 'config' && k !== 'permissions' && k !== 'tags') throw badRequest(`unknown field ${k}`, k)
      const token = b.key === undefined ? newKeyToken() : b.key
      if (typeof token !== 'string' || !/^sk-[A-Za-z0-9_-]{16,}$/.test(token)) throw badRequest('key must be "sk-" followed by at least 16 letters, digits, - or _', 'key')
      const patch = await patchOf(c, b, true)
      const now = d.clock.now()
      const row: GatewayKeyRow = {
        id: d.ids.id('gk-', 16), token_hash: keyHash(token), key_name: keyName(token), key_alias: null, team_id: null, user_id: null, models: '[]',
        max_budget: null, budget_duration: null, budget_reset_at: null, spend: 0, rpm_limit: null, tpm_limit: null, max_parallel_requests: null,
        metadata: '{}', expires_at: null, blocked: 0, capsule_id: null, object_permission: null, created_by: c.kind === 'master' ? 'master' : (c.userId ?? 'master'), created_at: now, updated_at: now,
        ...patch,
        ...extra,
      }
      try {
        await insertKey(d.db, row)
      } catch (e) {
        if (/UNIQUE/.test(String((e as Error).message))) throw badRequest('that key already exists', 'key')
        throw e
      }
      return { row, token }
    },

    /** A key's row, with the spend this process counted but has not stored yet. */
    async info(c: Caller, ref: unknown) {
      const row = await reach(c, ref)
      const live = byHash.get(row.token_hash)
      return live ? { ...row, spend: live.row.spend } : row
    },

    async update(c: Caller, b: Input) {
      const row = await reach(c, b.key)
      if (c.kind === 'virtual') throw notAllowed('a virtual key cannot change keys')
      const { key: _k, ...rest } = b
      const patch = await patchOf(c, rest, false)
      const next = { ...row, ...patch, updated_at: d.clock.now() }
      await updateKey(d.db, row.id, { ...patch, updated_at: next.updated_at })
      refresh(next, patch.spend !== undefined)
      return byHash.get(next.token_hash)?.row ?? next
    },

    async setBlocked(c: Caller, ref: unknown, blocked: boolean) {
      const row = await reach(c, ref)
      if (c.kind === 'virtual') throw notAllowed('a virtual key cannot block keys')
      const next = { ...row, blocked: blocked ? 1 : 0, updated_at: d.clock.now() }
      await updateKey(d.db, row.id, { blocked: next.blocked, updated_at: next.updated_at })
      refresh(next)
      return next
    },

    /** Deletes keys by plaintext or hash, or by alias; all must be reachable or nothing is deleted. */
    async remove(c: Caller, b: Input): Promise<string[]> {
      if (c.kind === 'virtual') throw notAllowed('a virtual key cannot delete keys')
      const scope = scopeOf(c)
      const rows: GatewayKeyRow[] = []
      if (b.keys !== undefined) {
        if (!Array.isArray(b.keys) || !b.keys.length) throw badRequest('keys must be a non-empty list', 'keys')
        for (const k of b.keys) rows.push(await reach(c, k))
      } else if (b.key_aliases !== undefined) {
        if (!Array.isArray(b.key_aliases)) throw badRequest('key_aliases must be a list', 'key_aliases')
        for (const a of b.key_aliases) {
          const found = await listKeys(d.db, { teamId: scope.all ? undefined : scope.teamId, alias: String(a), offset: 0, limit: 1000 })
          if (!found.length) throw keyNotFound(`no key with alias ${String(a)}`)
          rows.push(...found)
        }
      } else throw badRequest('keys or key_aliases is required', 'keys')
      await deleteKeys(d.db, rows.map((r) => r.id))
      for (const r of rows) forget(r.token_hash)
      return (b.keys as string[] | undefined) ?? rows.map((r) => r.token_hash)
    },

    async list(c: Caller, q: { team_id?: string; user_id?: string; key_alias?: string; page?: number; size?: number }) {
      const scope = scopeOf(c)
      if (!scope.all && q.team_id !== undefined && q.team_id !== scope.teamId) throw notAllowed('a team admin may only list keys of their own team')
      const page = Math.max(1, q.page ?? 1)
      const size = Math.min(100, Math.max(1, q.size ?? 10))
      const f = { teamId: scope.all ? q.team_id : scope.teamId, userId: q.user_id, alias: q.key_alias }
      const [rows, total] = await Promise.all([listKeys(d.db, { ...f, offset: (page - 1) * size, limit: size }), countKeys(d.db, f)])
      return { rows, total, page, size }
    },

    /** POST /key/{key}/regenerate: a new plaintext for the same key (settings and spend kept, old plaintext dead). */
    async regenerate(c: Caller, ref: string, b: Input) {
      const row = await reach(c, ref)
      if (c.kind === 'virtual') throw notAllowed('a virtual key cannot regenerate keys')
      const patch = await patchOf(c, Object.fromEntries(Object.entries(b).filter(([k]) => k !== 'key' && k !== 'new_key')), false)
      const token = b.new_key === undefined ? newKeyToken() : b.new_key
      if (typeof token !== 'string' || !/^sk-[A-Za-z0-9_-]{16,}$/.test(token)) throw badRequest('new_key must be "sk-" followed by at least 16 letters, digits, - or _', 'new_key')
      const next = { ...row, ...patch, token_hash: keyHash(token), key_name: keyName(token), updated_at: d.clock.now() }
      await updateKey(d.db, row.id, { ...patch, token_hash: next.token_hash, key_name: next.key_name, updated_at: next.updated_at })
      forget(row.token_hash)
      return { row: next, token }
    },

    /** Deletes keys by id without a caller (capsule revocation). */
    async removeById(ids: string[], hashes: string[]) {
      await deleteKeys(d.db, ids)
      for (const h of hashes) forget(h)
    },

    /** Deletes every key of a deleted team. */
    async removeTeam(teamId: string) {
      const rows = await listKeys(d.db, { teamId, offset: 0, limit: 1_000_000 })
      await deleteKeys(d.db, rows.map((r) => r.id))
      for (const r of rows) forget(r.token_hash)
    },

    /** Budget resets done by the database job: cached states take the stored values. */
    afterReset(rows: GatewayKeyRow[]) {
      for (const r of rows) refresh(r, true)
    },
  }
}
export type VirtualKeys = ReturnType<typeof createVirtualKeys>
