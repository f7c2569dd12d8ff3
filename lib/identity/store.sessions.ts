/** Session queries. A session is found by the SHA-256 of its cookie value. */
import type { Db } from '../core/db.ts'
import type { SessionRow } from './tables.ts'

export const insertSession = (db: Db, row: SessionRow) => db.insertInto('sessions').values(row).execute()

const sessionWithUser = (db: Db) =>
  db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .leftJoin('teams as t', (j) => j.onRef('t.id', '=', 's.team_id').on('t.deleted_at', 'is', null))
    .leftJoin('team_members as m', (j) => j.onRef('m.team_id', '=', 't.id').onRef('m.user_id', '=', 's.user_id'))
    .select([
      's.id', 's.surface', 's.user_id', 's.team_id', 's.csrf_hash', 's.last_seen_at', 's.expires_at',
      'u.email', 'u.name', 'u.is_admin', 'u.is_active', 'u.deleted_at', 'm.role',
    ])

/** One indexed lookup: the session, its user, and the user's role in the session's team (if that team is live). */
export const findSessionByTokenHash = (db: Db, tokenHash: string) => sessionWithUser(db).where('s.token_hash', '=', tokenHash).executeTakeFirst()

/** The same by session id (a session referred to by something else nestbox issued, e.g. a sandbox subdomain cookie). */
export const findSessionById = (db: Db, id: string) => sessionWithUser(db).where('s.id', '=', id).executeTakeFirst()

export const touchSession = (db: Db, id: string, at: number) => db.updateTable('sessions').set({ last_seen_at: at }).where('id', '=', id).execute()

export const listSessionsOfUser = (db: Db, userId: string, now: number, idleMs: number) =>
  db
    .selectFrom('sessions')
    .select(['id', 'surface', 'user_agent', 'ip_address', 'created_at', 'last_seen_at', 'expires_at'])
    .where('user_id', '=', userId)
    .where('expires_at', '>', now)
    .where('last_seen_at', '>', now - idleMs)
    .orderBy('last_seen_at', 'desc')
    .execute()

export const findSessionOfUser = (db: Db, userId: string, id: string) =>
  db.selectFrom('sessions').selectAll().where('user_id', '=', userId).where('id', '=', id).executeTakeFirst()

export const deleteSession = (db: Db, id: string) => db.deleteFrom('sessions').where('id', '=', id).execute()
export const deleteSessionsOfUser = (db: Db, userId: string) => db.deleteFrom('sessions').where('user_id', '=', userId).execute()

export const deleteExpiredSessions = async (db: Db, now: number, idleMs: number) =>
  Number((await db.deleteFrom('sessions').where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', now - idleMs)])).executeTakeFirst()).numDeletedRows)
