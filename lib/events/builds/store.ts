/** Every query of template builds (sqlite/0042_builds.sql). */
import type { Db } from '../../core/db.ts'
import type { BuildRow, BuildStatus } from '../tables.ts'

export const insertBuild = (db: Db, row: BuildRow) => db.insertInto('template_builds').values(row).execute()
export const findBuild = (db: Db, id: string) => db.selectFrom('template_builds').selectAll().where('id', '=', id).executeTakeFirst()
export const listBuilds = (db: Db, limit: number) => db.selectFrom('template_builds').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute()
export const updateBuild = (db: Db, id: string, patch: Partial<BuildRow>) => db.updateTable('template_builds').set(patch).where('id', '=', id).execute()

/** Moves a build from one of `from` to `to` (false when it was no longer in `from`). */
export async function transitionBuild(db: Db, id: string, from: BuildStatus[], patch: Partial<BuildRow> & { status: BuildStatus }): Promise<boolean> {
  const r = await db.updateTable('template_builds').set(patch).where('id', '=', id).where('status', 'in', from).executeTakeFirst()
  return Number(r.numUpdatedRows) === 1
}

export const buildsInStatus = (db: Db, statuses: BuildStatus[]) => db.selectFrom('template_builds').selectAll().where('status', 'in', statuses).orderBy('created_at').execute()
