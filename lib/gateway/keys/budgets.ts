/**
 * Team budgets and limits (LiteLLM's /team/info, /team/update) and spend log
 * reads (/spend/logs). The master key sees and sets everything; a nestbox API
 * key sees its own team; a virtual key sees its own spend. Nobody sees another
 * team's rows.
 */
import type { Db } from '../../core/db.ts'
import type { Clock } from '../../core/ids.ts'
import { keyHash, type Caller } from './callers.ts'
import { nextBudgetReset } from './durations.ts'
import { parseObjectPermission } from './object-permission.ts'
import { badRequest, notAllowed } from '../errors.ts'
import { findTeamBudget, listSpendLogs, teamExists, upsertTeamBudget, type SpendFilter } from '../store.ts'
import type { GatewayTeamBudgetRow } from '../tables.ts'

const DAY = /^\d{4}-\d{2}-\d{2}$/

function dateMs(v: string | undefined, name: string, endOfDay: boolean): number | undefined {
  if (v === undefined || v === '') return undefined
  const t = DAY.test(v) ? Date.parse(`${v}T00:00:00Z`) + (endOfDay ? 86_400_000 : 0) : Date.parse(v)
  if (!Number.isFinite(t)) throw badRequest(`${name} must be a date (YYYY-MM-DD) or an ISO timestamp`, name)
  return t
}

export function createBudgets(d: { db: Db; clock: Clock; timezone: string; changed: (row: GatewayTeamBudgetRow) => void; liveSpend: (teamId: string) => number | undefined }) {
  const num = (v: unknown, name: string, int: boolean): number | null | undefined => {
    if (v === undefined) return undefined
    if (v === null) return null
    if (typeof v !== 'number' || v < 0 || !Number.isFinite(v) || (int && !Number.isInteger(v))) throw badRequest(`${name} must be a non-negative ${int ? 'integer' : 'number'}`, name)
    return v
  }

  return {
    /** The team's budget row (a default one when none was set). Team keys see their own team only. */
    async teamInfo(c: Caller, teamId: string | undefined): Promise<GatewayTeamBudgetRow> {
      const id = teamId ?? c.teamId
      if (!id) throw badRequest('team_id is required', 'team_id')
      if (c.kind !== 'master' && c.teamId !== id) throw notAllowed('you can only see your own team')
      if (!(await teamExists(d.db, id))) throw badRequest(`team_id ${id} is not a nestbox team`, 'team_id')
      const row = await findTeamBudget(d.db, id)
      if (row) return { ...row, spend: d.liveSpend(id) ?? row.spend }
      return { team_id: id, max_budget: null, budget_duration: null, budget_reset_at: null, spend: 0, rpm_limit: null, tpm_limit: null, object_permission: null, updated_at: 0 }
    },

    /** Sets a team's budget and limits (master key only: a team must not lift its own cap). */
    async teamUpdate(c: Caller, b: Record<string, unknown>): Promise<GatewayTeamBudgetRow> {
      if (c.kind !== 'master') throw notAllowed('setting team budgets needs the master key')
      if (typeof b.team_id !== 'string') throw badRequest('team_id is required', 'team_id')
      const cur = await this.teamInfo(c, b.team_id)
      const now = d.clock.now()
      const next = { ...cur, updated_at: now }
      const mb = num(b.max_budget, 'max_budget', false)
      if (mb !== undefined) next.max_budget = mb
      for (const k of ['rpm_limit', 'tpm_limit'] as const) {
        const v = num(b[k], k, true)
        if (v !== undefined) next[k] = v
      }
      if (b.object_permission !== undefined) next.object_permission = parseObjectPermission(b.object_permission)
      if (b.budget_duration !== undefined) {
        const bd = b.budget_duration
        if (bd !== null && (typeof bd !== 'string' || nextBudgetReset(bd, now, d.timezone) === null)) throw badRequest('budget_duration must be like "1h", "1d", "7d" or "30d"', 'budget_duration')
        next.budget_duration = bd
        next.budget_reset_at = bd ? nextBudgetReset(bd, now, d.timezone) : null
      }
      await upsertTeamBudget(d.db, next)
      d.changed(next)
      return next
    },

    /** Spend log rows the caller may see, filtered (LiteLLM's /spend/logs query parameters). */
    async spendLogs(c: Caller, q: Record<string, string | undefined>) {
      const f: SpendFilter = {
        requestId: q.request_id,
        user: q.user_id,
        model: q.model,
        from: dateMs(q.start_date, 'start_date', false),
        to: dateMs(q.end_date, 'end_date', true),
        limit: Math.min(1000, Math.max(1, Number(q.limit ?? q.page_size ?? 100) || 100)),
        offset: Math.max(0, Number(q.offset ?? 0) || 0),
      }
      if (q.api_key) f.apiKey = q.api_key.startsWith('sk-') || q.api_key.startsWith('wrn_') ? keyHash(q.api_key) : q.api_key
      if (c.kind === 'master') f.teamId = q.team_id
      else if (c.kind === 'team_key') {
        if (q.team_id && q.team_id !== c.teamId) throw notAllowed('you can only see your own team')
        f.teamId = c.teamId!
      } else {
        if (f.apiKey && f.apiKey !== c.keyHash) throw notAllowed('a virtual key can only see its own spend')
        f.apiKey = c.keyHash
      }
      return listSpendLogs(d.db, f)
    },
  }
}
export type Budgets = ReturnType<typeof createBudgets>
