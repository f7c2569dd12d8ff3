/** Every capsule query. Returns rows; the service maps them. */
import { sql } from 'kysely'
import type { Db } from '../core/db.ts'
import type { CapsuleRow, CapsuleStatus, MetricRow, TemplateRow } from './tables.ts'

export const insertCapsule = (db: Db, row: CapsuleRow) => db.insertInto('capsules').values(row).execute()

/** A capsule that has not been destroyed. */
export const findCapsuleById = (db: Db, id: string) =>
  db.selectFrom('capsules').selectAll().where('id', '=', id).where('destroyed_at', 'is', null).executeTakeFirst()

/** Live capsules of one team, or of every team when teamId is null. */
export const listCapsules = (db: Db, teamId: string | null) => {
  let q = db.selectFrom('capsules').selectAll().where('destroyed_at', 'is', null)
  if (teamId !== null) q = q.where('team_id', '=', teamId)
  return q.orderBy('created_at', 'desc').orderBy('id').execute()
}

export const listCapsulesByStatus = (db: Db, statuses: CapsuleStatus[]) =>
  db.selectFrom('capsules').selectAll().where('destroyed_at', 'is', null).where('status', 'in', statuses).execute()

export const updateCapsule = (db: Db, id: string, patch: Partial<CapsuleRow>) =>
  db.updateTable('capsules').set(patch).where('id', '=', id).execute()

/**
 * Moves a capsule from one of `from` to `to` and records the transition with the
 * team's totals after it, atomically. Returns false when the capsule was not in
 * one of `from` (someone else moved it first).
 */
export async function transitionCapsule(
  db: Db,
  id: string,
  from: CapsuleStatus[],
  to: CapsuleStatus,
  patch: Partial<CapsuleRow>,
  reason: string,
  at: number,
): Promise<{ ok: true; row: CapsuleRow; prev: CapsuleStatus } | { ok: false }> {
  return db.transaction().execute(async (tx) => {
    const cur = await tx.selectFrom('capsules').selectAll().where('id', '=', id).executeTakeFirst()
    if (!cur || !from.includes(cur.status)) return { ok: false as const }
    await tx.updateTable('capsules').set({ ...patch, status: to, updated_at: at }).where('id', '=', id).execute()
    const totals = await tx
      .selectFrom('capsules')
      .select([(eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.sum<number>('vcpus').as('v'), (eb) => eb.fn.sum<number>('memory_mb').as('m')])
      .where('team_id', '=', cur.team_id)
      .where('status', '=', 'running')
      .where('destroyed_at', 'is', null)
      .executeTakeFirstOrThrow()
    await tx
      .insertInto('capsule_transitions')
      .values({ capsule_id: id, team_id: cur.team_id, from_status: cur.status, to_status: to, reason, running: Number(totals.n), vcpus: Number(totals.v ?? 0), memory_mb: Number(totals.m ?? 0), at })
      .execute()
    return { ok: true as const, row: { ...cur, ...patch, status: to, updated_at: at }, prev: cur.status }
  })
}

export const listTransitions = (db: Db, capsuleId: string) =>
  db.selectFrom('capsule_transitions').selectAll().where('capsule_id', '=', capsuleId).orderBy('seq').execute()

/** The team's totals after each transition in [since, until], plus the last one before `since` (the starting level). */
export async function teamLevels(db: Db, teamId: string, since: number) {
  const before = await db
    .selectFrom('capsule_transitions')
    .select(['at', 'running', 'vcpus', 'memory_mb'])
    .where('team_id', '=', teamId)
    .where('at', '<', since)
    .orderBy('at', 'desc')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst()
  const during = await db
    .selectFrom('capsule_transitions')
    .select(['at', 'running', 'vcpus', 'memory_mb'])
    .where('team_id', '=', teamId)
    .where('at', '>=', since)
    .orderBy('at')
    .orderBy('seq')
    .execute()
  return { before: before ?? null, during }
}

export const teamPeaks = (db: Db, teamId: string, since: number) =>
  db
    .selectFrom('capsule_transitions')
    .select([(eb) => eb.fn.max<number>('running').as('running'), (eb) => eb.fn.max<number>('vcpus').as('vcpus'), (eb) => eb.fn.max<number>('memory_mb').as('memory_mb')])
    .where('team_id', '=', teamId)
    .where('at', '>=', since)
    .executeTakeFirstOrThrow()

// Templates

/** The team's own template of that name, else the platform one. */
export const findTemplateForTeam = (db: Db, teamId: string, name: string) =>
  db
    .selectFrom('capsule_templates')
    .selectAll()
    .where('name', '=', name)
    .where((eb) => eb.or([eb('team_id', '=', teamId), eb('team_id', 'is', null)]))
    .orderBy(sql`team_id IS NULL`)
    .executeTakeFirst()

export const findTemplateById = (db: Db, id: string) => db.selectFrom('capsule_templates').selectAll().where('id', '=', id).executeTakeFirst()

/** Templates a team sees (its own and the platform's), or every template when teamId is null. */
export const listTemplates = (db: Db, teamId: string | null, type?: 'base' | 'snapshot') => {
  let q = db.selectFrom('capsule_templates').selectAll()
  if (teamId !== null) q = q.where((eb) => eb.or([eb('team_id', '=', teamId), eb('team_id', 'is', null)]))
  if (type) q = q.where('type', '=', type)
  return q.orderBy('created_at').orderBy('name').execute()
}

export const insertTemplate = (db: Db, row: TemplateRow) => db.insertInto('capsule_templates').values(row).execute()
export const deleteTemplate = (db: Db, id: string) => db.deleteFrom('capsule_templates').where('id', '=', id).execute()

export const countLiveCapsulesOfTemplate = async (db: Db, templateId: string) =>
  Number(
    (
      await db
        .selectFrom('capsules')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('template_id', '=', templateId)
        .where('destroyed_at', 'is', null)
        .executeTakeFirstOrThrow()
    ).n,
  )

// Metrics and usage

export const insertMetrics = (db: Db, rows: MetricRow[]) =>
  rows.length ? db.insertInto('capsule_metrics').values(rows).onConflict((oc) => oc.doNothing()).execute() : Promise.resolve()

export const listMetrics = (db: Db, capsuleId: string, tierSec: number, since: number) =>
  db.selectFrom('capsule_metrics').selectAll().where('capsule_id', '=', capsuleId).where('tier_sec', '=', tierSec).where('ts', '>=', since).orderBy('ts').execute()

export const deleteMetricsBefore = (db: Db, tierSec: number, before: number) =>
  db.deleteFrom('capsule_metrics').where('tier_sec', '=', tierSec).where('ts', '<', before).execute()

export const deleteMetricsOfCapsule = (db: Db, capsuleId: string) => db.deleteFrom('capsule_metrics').where('capsule_id', '=', capsuleId).execute()

export const addUsage = (db: Db, teamId: string, day: string, cpuUsec: number, ramMbMinutes: number) =>
  db
    .insertInto('capsule_usage_daily')
    .values({ team_id: teamId, day, cpu_usec: Math.round(cpuUsec), ram_mb_minutes: ramMbMinutes })
    .onConflict((oc) =>
      oc.columns(['team_id', 'day']).doUpdateSet({
        cpu_usec: sql`cpu_usec + excluded.cpu_usec`,
        ram_mb_minutes: sql`ram_mb_minutes + excluded.ram_mb_minutes`,
      }),
    )
    .execute()

export const listUsage = (db: Db, teamId: string, fromDay: string, toDay: string) =>
  db.selectFrom('capsule_usage_daily').selectAll().where('team_id', '=', teamId).where('day', '>=', fromDay).where('day', '<=', toDay).orderBy('day').execute()
