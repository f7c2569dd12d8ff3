/**
 * Whether a caller may make a call now: key state (blocked, expired, models),
 * budgets of the key and its team, and rpm/tpm/parallel limits. Everything
 * here reads memory; a team's budget row is loaded once, then kept.
 * Budgets are checked against spend already made, so concurrent calls can pass
 * a budget only by what the calls in flight then cost.
 */
import type { Clock } from '../../core/ids.ts'
import type { Caller } from './callers.ts'
import { nextBudgetReset } from './durations.ts'
import { authError, budgetExceeded, GatewayError } from '../errors.ts'
import type { Limit, Limits } from './limits.ts'
import type { GatewayTeamBudgetRow } from '../tables.ts'

export type TeamState = { row: GatewayTeamBudgetRow | null }

/** compat(litellm): a key's models list may hold group names, wildcard patterns and "all-proxy-models". */
export function modelAllowed(models: string[], name: string, matches: (pattern: string, name: string) => boolean): boolean {
  if (!models.length || models.includes('all-proxy-models') || models.includes('*')) return true
  return models.some((m) => matches(m, name))
}

const money = (n: number) => Number(n.toFixed(6))

/** Throws unless a virtual key may be used at all now (not blocked, not expired); for model calls and MCP tools alike. */
export function assertKeyUsable(r: { blocked: number; expires_at: number | null }, now: number): void {
  if (r.blocked) throw new GatewayError(403, 'permission_error', 'Authentication Error - This key is blocked. Ask an admin to unblock it.')
  if (r.expires_at !== null && now >= r.expires_at) throw authError(`Authentication Error - Expired Key. Key expiry time ${new Date(r.expires_at).toISOString()} and current time ${new Date(now).toISOString()}`)
}

export function createAdmission(d: { clock: Clock; limits: Limits; timezone: string; matches: (pattern: string, name: string) => boolean; onKeyReset: (keyId: string, resetAt: number | null) => void; onTeamReset: (teamId: string, resetAt: number | null) => void }) {
  /** Resets in-memory spend whose budget period ended (the database follows through the callbacks). */
  function rollover<R extends { spend: number; budget_reset_at: number | null; budget_duration: string | null }>(row: R, now: number): boolean {
    if (row.budget_reset_at === null || now < row.budget_reset_at) return false
    row.spend = 0
    row.budget_reset_at = row.budget_duration ? nextBudgetReset(row.budget_duration, now, d.timezone) : null
    return true
  }

  /** Throws 429 unless every counter has room, then counts the request in all of them. */
  function takeAll(taken: Array<[string, Limit]>): Array<[string, Limit]> {
    for (const [id, l] of taken) d.limits.check(id, l, id.startsWith('key:') ? 'this key' : 'this team')
    for (const [id] of taken) d.limits.take(id)
    return taken
  }

  return {
    /**
     * Throws the LiteLLM error for a call `caller` may not make to `model` now;
     * otherwise returns the limit counters the call takes (release them after).
     */
    admit(caller: Caller, model: string, team: TeamState | null): Array<[string, Limit]> {
      const now = d.clock.now()
      const taken: Array<[string, Limit]> = []
      const k = caller.key
      if (k) {
        const r = k.row
        assertKeyUsable(r, now)
        if (!modelAllowed(k.models, model, d.matches))
          throw new GatewayError(401, 'key_model_access_denied', `key not allowed to access model. This key can only access models=${JSON.stringify(k.models)}. Tried to access ${model}`, { param: 'model' })
        if (rollover(r, now)) d.onKeyReset(r.id, r.budget_reset_at)
        if (r.max_budget !== null && r.spend >= r.max_budget) throw budgetExceeded(`Budget has been exceeded! Current cost: ${money(r.spend)}, Max budget: ${r.max_budget}`)
        const l: Limit = { rpm: r.rpm_limit, tpm: r.tpm_limit, parallel: r.max_parallel_requests }
        if (l.rpm !== null || l.tpm !== null || l.parallel !== null) taken.push([`key:${r.id}`, l])
      }
      const t = team?.row
      if (t) {
        if (rollover(t, now)) d.onTeamReset(t.team_id, t.budget_reset_at)
        if (t.max_budget !== null && t.spend >= t.max_budget) throw budgetExceeded(`Budget has been exceeded! Team=${t.team_id} Current cost: ${money(t.spend)}, Max budget: ${t.max_budget}`)
        const l: Limit = { rpm: t.rpm_limit, tpm: t.tpm_limit, parallel: null }
        if (l.rpm !== null || l.tpm !== null) taken.push([`team:${t.team_id}`, l])
      }
      return takeAll(taken)
    },

    /** An MCP tool call: no model and no cost, but it counts in the key's and the team's request limits (rpm, parallel). */
    admitTool(caller: Caller, team: TeamState | null): Array<[string, Limit]> {
      const taken: Array<[string, Limit]> = []
      const r = caller.key?.row
      if (r) {
        assertKeyUsable(r, d.clock.now())
        const l: Limit = { rpm: r.rpm_limit, tpm: null, parallel: r.max_parallel_requests }
        if (l.rpm !== null || l.parallel !== null) taken.push([`key:${r.id}`, l])
      }
      const t = team?.row
      if (t && t.rpm_limit !== null) taken.push([`team:${t.team_id}`, { rpm: t.rpm_limit, tpm: null, parallel: null }])
      return takeAll(taken)
    },
  }
}
export type Admission = ReturnType<typeof createAdmission>
