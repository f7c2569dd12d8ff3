/** The browser pool's queries: which team its replicas belong to. */
import type { Db } from '../core/db.ts'

export const firstTeam = (db: Db) => db.selectFrom('teams').select('id').where('deleted_at', 'is', null).orderBy('created_at').orderBy('id').limit(1).executeTakeFirst()

export const teamExists = async (db: Db, id: string) => !!(await db.selectFrom('teams').select('id').where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst())
