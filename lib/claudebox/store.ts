/** Every query of claudebox (sqlite/0060_claudebox.sql). */
import type { Db } from '../core/db.ts'
import type { TokenRow, WorkspaceRow } from './tables.ts'

export const findWorkspace = (db: Db, instance: string, teamId: string, name: string) =>
  db.selectFrom('claudebox_workspaces').selectAll().where('instance', '=', instance).where('team_id', '=', teamId).where('name', '=', name).executeTakeFirst()

export const listWorkspaces = (db: Db, instance: string, teamId: string) =>
  db.selectFrom('claudebox_workspaces').selectAll().where('instance', '=', instance).where('team_id', '=', teamId).orderBy('name').execute()

/** Workspaces of every team whose last run ended before `before` (candidates for an idle pause). */
export const listIdleWorkspaces = (db: Db, instance: string, before: number) =>
  db.selectFrom('claudebox_workspaces').selectAll().where('instance', '=', instance).where('capsule_id', 'is not', null).where('last_run_at', '<', before).execute()

/** Inserts the workspace unless one of that name exists; returns the stored row either way. */
export async function insertWorkspace(db: Db, row: WorkspaceRow): Promise<WorkspaceRow> {
  await db.insertInto('claudebox_workspaces').values(row).onConflict((oc) => oc.columns(['instance', 'team_id', 'name']).doNothing()).execute()
  return (await findWorkspace(db, row.instance, row.team_id, row.name))!
}

export const updateWorkspace = (db: Db, id: string, patch: Partial<Omit<WorkspaceRow, 'id'>>) => db.updateTable('claudebox_workspaces').set(patch).where('id', '=', id).execute()

export const deleteTeamWorkspaces = (db: Db, teamId: string) => db.deleteFrom('claudebox_workspaces').where('team_id', '=', teamId).execute()

export const findToken = (db: Db, instance: string) => db.selectFrom('claudebox_tokens').selectAll().where('instance', '=', instance).executeTakeFirst()

/** Stores the instance's token unless another process did first; returns the stored row. */
export async function putTokenOnce(db: Db, row: TokenRow): Promise<TokenRow> {
  await db.insertInto('claudebox_tokens').values(row).onConflict((oc) => oc.column('instance').doNothing()).execute()
  return (await findToken(db, row.instance))!
}

export const firstTeam = (db: Db) => db.selectFrom('teams').select('id').where('deleted_at', 'is', null).orderBy('created_at').orderBy('id').limit(1).executeTakeFirst()

export const teamExists = async (db: Db, id: string) => !!(await db.selectFrom('teams').select('id').where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst())
