/** Identity queries. Returns rows; the service maps them. */
import type { Db } from '../core/db.ts'
import type { ApiKeyRow, TeamRow, UserRow } from './tables.ts'

export const countUsers = async (db: Db) =>
  Number((await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)

export const insertUser = (db: Db, row: UserRow) => db.insertInto('users').values(row).execute()
export const insertTeam = (db: Db, row: TeamRow) => db.insertInto('teams').values(row).execute()
export const insertMember = (db: Db, row: { team_id: string; user_id: string; role: 'owner' | 'admin' | 'member' | 'viewer'; created_at: number }) =>
  db.insertInto('team_members').values(row).execute()
export const insertApiKey = (db: Db, row: ApiKeyRow) => db.insertInto('api_keys').values(row).execute()

/** Indexed lookup by key hash, joined with the creator and their role in the key's team. */
export const findApiKeyByHash = (db: Db, keyHash: string) =>
  db
    .selectFrom('api_keys as k')
    .innerJoin('teams as t', 't.id', 'k.team_id')
    .innerJoin('users as u', 'u.id', 'k.created_by')
    .leftJoin('team_members as m', (j) => j.onRef('m.team_id', '=', 'k.team_id').onRef('m.user_id', '=', 'k.created_by'))
    .select(['k.id', 'k.name', 'k.team_id', 'k.created_by', 'k.last_used_at', 'm.role', 'u.is_active', 'u.deleted_at as user_deleted_at', 't.deleted_at as team_deleted_at'])
    .where('k.key_hash', '=', keyHash)
    .executeTakeFirst()

export const touchApiKey = (db: Db, id: string, at: number) => db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute()

export const findUserById = (db: Db, id: string) => db.selectFrom('users').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst()
