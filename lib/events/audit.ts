/**
 * The audit log: every state-changing action appends one entry. Other services
 * call record(); teams read theirs at /v1/audit-logs, platform admins everything
 * at /v1/admin/audit-logs, newest first, in pages keyed by (time, id).
 */
import { createBatcher } from '../core/batcher.ts'
import type { Db } from '../core/db.ts'
import { forbidden, invalid, unauthorized } from '../core/errors.ts'
import type { EventBus } from '../core/events.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
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

/** recordSoon's entries wait at most this long, or until this many are queued, before they are inserted together. */
const SOON_MS = 50
const SOON_BATCH = 200

export function createAuditLog(d: { db: Db; clock: Clock; ids: IdGen; bus: EventBus; log: Logger }) {
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

  // At most SOON_BATCH rows of 11 parameters an insert: far under SQLite's limit of 32766.
  const soon = createBatcher<{ row: ReturnType<typeof rowOf>; entry: AuditEntry }>({
    max: SOON_BATCH,
    delayMs: SOON_MS,
    write: async (batch) => {
      await d.db.insertInto('audit_logs').values(batch.map((x) => x.row)).execute()
      for (const x of batch) publish(x.row, x.entry)
    },
    onError: (err, batch) => d.log.error('audit entries not written', { err, entries: batch.length }),
  })

  return {
    /** Appends one entry for `actor`, and publishes it as an "audit" event. */
    async record(actor: Principal, e: AuditEntry): Promise<void> {
      const row = rowOf(actor, e, d.clock.now())
      await d.db.insertInto('audit_logs').values(row).execute()
      publish(row, e)
    },

    /**
     * Appends an entry soon, inserted together with others: for frequent entries
     * (MCP tool calls), where one statement and commit per entry cost more than
     * the entry. Each keeps its own time; flush() writes what waits (at stop).
     */
    recordSoon(actor: Principal, e: AuditEntry): void {
      soon.add({ row: rowOf(actor, e, d.clock.now()), entry: e })
    },
    flush: soon.flush,

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
