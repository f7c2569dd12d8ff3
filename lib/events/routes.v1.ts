/** Wrenn surface (seed 003) of the audit log: /v1/audit-logs and /v1/admin/audit-logs. */
import { Hono } from 'hono'
import { iso } from '../core/ids.ts'
import type { AppEnv } from '../http/types.ts'
import type { AuditLog } from './audit.ts'

type Page = Awaited<ReturnType<AuditLog['listTeam']>>

function toWrennPage(p: Page) {
  return {
    entries: p.entries.map((e) => ({
      id: e.id,
      actor_type: e.actor_type,
      actor_id: e.actor_id,
      actor_name: e.actor_name,
      resource_type: e.resource_type,
      resource_id: e.resource_id,
      action: e.action,
      scope: e.team_id ? 'team' : 'platform',
      team_id: e.team_id,
      status: e.status,
      metadata: JSON.parse(e.metadata),
      created_at: iso(e.created_at),
    })),
    next_cursor: p.next ? { before: iso(p.next.before), before_id: p.next.beforeId } : null,
  }
}

export function auditRoutesV1(audit: AuditLog) {
  const r = new Hono<AppEnv>()
  r.get('/audit-logs', async (c) => c.json(toWrennPage(await audit.listTeam(c.get('principal'), c.req.query()))))
  r.get('/admin/audit-logs', async (c) => c.json(toWrennPage(await audit.listAll(c.get('principal'), c.req.query()))))
  return r
}
