/** API key queries. Keys are looked up by the SHA-256 of the presented key (unique index). */
import type { Db } from '../core/db.ts'

/** Indexed lookup by key hash, joined with the creator and their current role in the key's team. */
export const findApiKeyByHash = (db: Db, keyHash: string) =>
  db
    .selectFrom('api_keys as k')
    .innerJoin('teams as t', 't.id', 'k.team_id')
    .innerJoin('users as u', 'u.id', 'k.created_by')
    .leftJoin('team_members as m', (j) => j.onRef('m.team_id', '=', 'k.team_id').onRef('m.user_id', '=', 'k.created_by'))
    .select(['k.id', 'k.name', 'k.team_id', 'k.created_by', 'k.last_used_at', 'm.role', 'u.email', 'u.name as user_name', 'u.is_active', 'u.deleted_at as user_deleted_at', 't.deleted_at as team_deleted_at'])
    .where('k.key_hash', '=', keyHash)
    .executeTakeFirst()

export const touchApiKey = (db: Db, id: string, at: number) => db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute()

export const listApiKeysOfTeam = (db: Db, teamId: string) =>
  db
    .selectFrom('api_keys')
    .select(['id', 'team_id', 'name', 'key_prefix', 'created_by', 'created_at', 'last_used_at'])
    .where('team_id', '=', teamId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute()

export const findApiKeyInTeam = (db: Db, teamId: string, id: string) =>
  db.selectFrom('api_keys').selectAll().where('team_id', '=', teamId).where('id', '=', id).executeTakeFirst()

export const deleteApiKey = (db: Db, id: string) => db.deleteFrom('api_keys').where('id', '=', id).execute()
export const deleteApiKeysOfUser = (db: Db, userId: string) => db.deleteFrom('api_keys').where('created_by', '=', userId).execute()
