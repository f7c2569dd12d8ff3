/**
 * The audit log: every state-changing action appends one entry. Other services
 * call record(); the identity issue adds listing routes (/v1/audit-logs).
 */
import type { Db } from '../core/db.ts'
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

export function createAuditLog(d: { db: Db; clock: Clock; ids: IdGen; bus: EventBus }) {
  return {
    /** Appends one entry for `actor`, and publishes it as an "audit" event. */
    async record(actor: Principal, e: AuditEntry): Promise<void> {
      const a = actorOf(actor)
      const row = {
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
        created_at: d.clock.now(),
      }
      await d.db.insertInto('audit_logs').values(row).execute()
      d.bus.publish({ type: 'audit', teamId: e.teamId, resourceType: e.resourceType, resourceId: row.resource_id, data: { id: row.id, action: e.action }, at: row.created_at })
    },
  }
}
export type AuditLog = ReturnType<typeof createAuditLog>
