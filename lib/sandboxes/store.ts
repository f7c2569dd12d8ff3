/** Every query of sandboxes (sqlite/0070_sandboxes.sql). */
import type { Db } from '../core/db.ts'
import type { SandboxRow } from './tables.ts'

export const findSandbox = (db: Db, id: string) => db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirst()

export const findSandboxByShortId = (db: Db, shortId: string) => db.selectFrom('sandboxes').selectAll().where('short_id', '=', shortId).executeTakeFirst()

export const findSandboxByCapsule = (db: Db, capsuleId: string) => db.selectFrom('sandboxes').selectAll().where('capsule_id', '=', capsuleId).executeTakeFirst()

export const listSandboxesByTeam = (db: Db, teamId: string) =>
  db.selectFrom('sandboxes').selectAll().where('team_id', '=', teamId).orderBy('created_at').orderBy('id').execute()

/** Cloud sandboxes not yet stopped (their capsules are watched on start). */
export const listLiveCloudSandboxes = (db: Db) =>
  db.selectFrom('sandboxes').selectAll().where('kind', '=', 'cloud').where('status', 'not in', ['stopped', 'error']).execute()

export const insertSandbox = (db: Db, row: SandboxRow) => db.insertInto('sandboxes').values(row).execute()

export const updateSandbox = (db: Db, id: string, patch: Partial<Omit<SandboxRow, 'id'>>) => db.updateTable('sandboxes').set(patch).where('id', '=', id).execute()

export const deleteSandbox = (db: Db, id: string) => db.deleteFrom('sandboxes').where('id', '=', id).execute()

export const deleteTeamSandboxes = (db: Db, teamId: string) => db.deleteFrom('sandboxes').where('team_id', '=', teamId).returning(['id', 'capsule_id']).execute()

/** At start no local agent is connected yet (a crash may have left some marked running). */
export const markLocalSandboxesOffline = (db: Db, at: number) =>
  db.updateTable('sandboxes').set({ status: 'offline', updated_at: at }).where('kind', '=', 'local').where('status', '!=', 'offline').execute()
