/**
 * The audit log: every state-changing action appends one entry. Other services
 * call record(); teams read theirs at /v1/audit-logs, platform admins everything
 * at /v1/admin/audit-logs, newest first, in pages keyed by (time, id).
 */
import type { Db } from '../core/db.ts'
import { forbidden, invalid, unauthorized } from '../core/errors.ts'
import type { EventBus } from '../core/events.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import { actorOf, type Principal } from '../core/principal.ts'

export type AuditEntry = {
  teamId: string | null
  resourceType: string
  resourceId?: string
  /** e.g. "create", "delete", "pause" */
  action: string
  status?: 'success' | 'failure'
  metadata?: Record<string, unknown>
}

export type AuditPageQuery = { before?: string; before_id?: string; limit?: string }

export const AUDIT_PAGE_DEFAULT = 50
export const AUDIT_PAGE_MAX = 200

function parsePage(q: AuditPageQuery): { before: number | null; beforeId: string | null; limit: number } {
  let limit = AUDIT_PAGE_DEFAULT
  if (q.limit !== undefined && q.limit !== '') {
    limit = Number(q.limit)
    if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_PAGE_MAX) throw invalid(`limit must be an integer between 1 and ${AUDIT_PAGE_MAX}`, 'invalid_limit')
  }
  let before: number | null = null
  if (q.before) {
    before = Date.parse(q.before)
    if (!Number.isFinite(before)) throw invalid('before must be an RFC 3339 date-time', 'invalid_cursor')
  }
  const beforeId = q.before_id || null
  if (beforeId && before == null) throw invalid('before_id needs before', 'invalid_cursor')
  return { before, beforeId, limit }
}

export function createAuditLog(d: { db: Db; clock: Clock; ids: IdGen; bus: EventBus }) {
  /** One page, newest first; `teamId` undefined = every team and platform-level entries. */
  async function page(teamId: string | undefined, q: AuditPageQuery) {
    const { before, beforeId, limit } = parsePage(q)
    let sel = d.db.selectFrom('audit_logs').selectAll()
    if (teamId !== undefined) sel = sel.where('team_id', '=', teamId)
    if (before != null) {
      sel = beforeId
        ? sel.where((eb) => eb.or([eb('created_at', '<', before), eb.and([eb('created_at', '=', before), eb('id', '<', beforeId)])]))
        : sel.where('created_at', '<', before)
    }
    const rows = await sel.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute()
    const last = rows.length === limit ? rows[rows.length - 1] : undefined
    return { entries: rows, next: last ? { before: last.created_at, beforeId: last.id } : null }
  }

  const rowOf = (actor: Principal, e: AuditEntry, at: number) => {
    const a = actorOf(actor)
    return {
      id: d.ids.id('al-', 16),
      team_id: e.teamId,
      actor_type: a.actorType,
      actor_id: a.actorId,
      actor_name: a.actorName,
      resource_type: e.resourceType,
      resource_id: e.resourceId ?? '',
      action: e.action,
      status: e.status ?? 'success',
      metadata: JSON.stringify(e.metadata ?? {}),
      created_at: at,
    }
  }
  const publish = (row: ReturnType<typeof rowOf>, e: AuditEntry) =>
    d.bus.publish({ type: 'audit', teamId: e.teamId, resourceType: e.resourceType, resourceId: row.resource_id, data: { id: row.id, action: e.action, status: row.status, actor: { type: row.actor_type, id: row.actor_id, name: row.actor_name }, metadata: e.metadata ?? {} }, at: row.created_at })

  return {
    /** Appends one entry for `actor`, and publishes it as an "audit" event. */
    async record(actor: Principal, e: AuditEntry): Promise<void> {
      const row = rowOf(actor, e, d.clock.now())
      await d.db.insertInto('audit_logs').values(row).execute()
      publish(row, e)
    },

    /**
     * Appends entries that happened at `at` (each its own time) in one insert,
     * then publishes each: for frequent entries (MCP tool calls), where one
     * statement and commit per entry cost more than the entry.
     */
    async recordMany(items: Array<{ actor: Principal; entry: AuditEntry; at: number }>): Promise<void> {
      // 11 parameters a row: 500 rows stay far under SQLite's limit of 32766.
      for (let i = 0; i < items.length; i += 500) {
        const slice = items.slice(i, i + 500)
        const rows = slice.map((x) => rowOf(x.actor, x.entry, x.at))
        await d.db.insertInto('audit_logs').values(rows).execute()
        rows.forEach((row, j) => publish(row, slice[j].entry))
      }
    },

    /** Entries of the caller's active team (any role may read them). */
    async listTeam(p: Principal, q: AuditPageQuery) {
      if (p.kind !== 'user' && p.kind !== 'api_key') throw unauthorized()
      if (!p.teamId || !p.role) throw forbidden('no active team; switch to a team first', 'no_team')
      return page(p.teamId, q)
    },

    /** Entries of every team and the platform (platform admins only). */
    async listAll(p: Principal, q: AuditPageQuery) {
      if (p.kind !== 'user' && p.kind !== 'api_key') throw unauthorized()
      if (!p.isAdmin) throw forbidden('platform admin access required', 'admin_required')
      return page(undefined, q)
    },
  }
}
export type AuditLog = ReturnType<typeof createAuditLog>
