/** Queries of the runs tables. */
import type { Db } from '../core/db.ts'
import type { CloudboxTokenRow, RunRow } from './tables.ts'

export const insertRun = (db: Db, row: RunRow) => db.insertInto('runs').values(row).execute()

export const finishRun = (db: Db, id: string, v: Pick<RunRow, 'status' | 'result' | 'finished_at' | 'capsule_id'>) => db.updateTable('runs').set(v).where('id', '=', id).execute()

export const findRun = (db: Db, teamId: string, id: string) => db.selectFrom('runs').selectAll().where('id', '=', id).where('team_id', '=', teamId).executeTakeFirst()

export const recentRuns = (db: Db, teamId: string, limit: number) =>
  db.selectFrom('runs').select(['id', 'created_at', 'repo', 'status', 'artifact_path']).where('team_id', '=', teamId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute()

export const deleteRunsBefore = async (db: Db, before: number) => Number((await db.deleteFrom('runs').where('created_at', '<', before).where('status', '!=', 'running').executeTakeFirst()).numDeletedRows)

export const deleteTeamRuns = (db: Db, teamId: string) => db.deleteFrom('runs').where('team_id', '=', teamId).execute()

/** Runs a previous process left running (it stopped mid-run): marked as errors at start. */
export const failInterruptedRuns = (db: Db, now: number) => db.updateTable('runs').set({ status: 'error', finished_at: now }).where('status', '=', 'running').execute()

export const findToken = (db: Db) => db.selectFrom('cloudbox_tokens').selectAll().where('id', '=', 'cloudbox').executeTakeFirst()

export async function putTokenOnce(db: Db, row: CloudboxTokenRow): Promise<CloudboxTokenRow> {
  await db.insertInto('cloudbox_tokens').values(row).onConflict((oc) => oc.column('id').doNothing()).execute()
  return (await findToken(db))!
}
