/** Identity queries on users, teams and memberships. Returns rows; the services map them. */
import { sql } from 'kysely'
import type { Db } from '../core/db.ts'
import type { Role } from '../core/principal.ts'
import type { ApiKeyRow, TeamRow, UserRow } from './tables.ts'

export const countUsers = async (db: Db) =>
  Number((await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)

export const insertUser = (db: Db, row: Omit<UserRow, 'activated_at'> & { activated_at?: number | null }) =>
  db.insertInto('users').values({ activated_at: row.is_active ? row.created_at : null, ...row }).execute()
export const insertTeam = (db: Db, row: TeamRow) => db.insertInto('teams').values(row).execute()
export const insertMember = (db: Db, row: { team_id: string; user_id: string; role: Role; created_at: number }) =>
  db.insertInto('team_members').values(row).execute()
export const insertApiKey = (db: Db, row: ApiKeyRow) => db.insertInto('api_keys').values(row).execute()

// ---- users

export const findUserById = (db: Db, id: string) => db.selectFrom('users').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst()

/** The live (not deleted) account with this email; emails compare case-insensitively (COLLATE NOCASE). */
export const findUserByEmail = (db: Db, email: string) =>
  db.selectFrom('users').selectAll().where('email', '=', email).where('deleted_at', 'is', null).executeTakeFirst()

export const updateUser = (db: Db, id: string, set: Partial<Omit<UserRow, 'id'>>) => db.updateTable('users').set(set).where('id', '=', id).execute()

/** Hard delete; only for signups that were never activated, and for the purge of long-deleted accounts. */
export const hardDeleteUser = async (db: Db, id: string) => {
  await db.deleteFrom('api_keys').where('created_by', '=', id).execute()
  await db.deleteFrom('users').where('id', '=', id).execute()
}

export const listUsers = (db: Db) =>
  db
    .selectFrom('users as u')
    .select(['u.id', 'u.email', 'u.name', 'u.is_active', 'u.is_admin', 'u.activated_at', 'u.created_at', 'u.password_hash'])
    .select((eb) => eb.selectFrom('team_members as m').innerJoin('teams as t', 't.id', 'm.team_id').whereRef('m.user_id', '=', 'u.id').where('t.deleted_at', 'is', null).select(eb.fn.countAll<number>().as('n')).as('team_count'))
    .where('u.deleted_at', 'is', null)
    .orderBy('u.created_at')
    .orderBy('u.id')
    .execute()

export const countActiveAdmins = async (db: Db) =>
  Number(
    (await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('is_admin', '=', 1).where('is_active', '=', 1).where('deleted_at', 'is', null).executeTakeFirstOrThrow()).n,
  )

/** Live, active accounts whose email starts with `prefix` (LIKE wildcards escaped), at most `limit`. */
export const searchUsersByEmailPrefix = (db: Db, prefix: string, limit: number) =>
  db
    .selectFrom('users')
    .select(['id', 'email'])
    .where(sql<boolean>`email LIKE ${prefix.replace(/[\\%_]/g, (m) => '\\' + m) + '%'} ESCAPE '\\'`)
    .where('deleted_at', 'is', null)
    .where('is_active', '=', 1)
    .orderBy('email')
    .limit(limit)
    .execute()

/** Accounts soft-deleted before `before`, for the purge job. */
export const listUsersDeletedBefore = (db: Db, before: number) => db.selectFrom('users').select('id').where('deleted_at', '<', before).execute()

// ---- teams and memberships

export const findTeamById = (db: Db, id: string) => db.selectFrom('teams').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst()

export const updateTeam = (db: Db, id: string, set: Partial<Omit<TeamRow, 'id' | 'slug'>>) => db.updateTable('teams').set(set).where('id', '=', id).execute()

export const findMembership = (db: Db, teamId: string, userId: string) =>
  db.selectFrom('team_members').selectAll().where('team_id', '=', teamId).where('user_id', '=', userId).executeTakeFirst()

/** The user's live teams with their role, oldest membership first. */
export const listTeamsOfUser = (db: Db, userId: string) =>
  db
    .selectFrom('team_members as m')
    .innerJoin('teams as t', 't.id', 'm.team_id')
    .select(['t.id', 't.name', 't.slug', 't.is_byoc', 't.created_at', 'm.role', 'm.created_at as joined_at'])
    .where('m.user_id', '=', userId)
    .where('t.deleted_at', 'is', null)
    .orderBy('m.created_at')
    .orderBy('t.id')
    .execute()

/** Members of a team (deleted accounts excluded), owner first. */
export const listMembers = (db: Db, teamId: string) =>
  db
    .selectFrom('team_members as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'u.email', 'u.name', 'm.role', 'm.created_at'])
    .where('m.team_id', '=', teamId)
    .where('u.deleted_at', 'is', null)
    .orderBy(sql`CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'member' THEN 2 ELSE 3 END`)
    .orderBy('m.created_at')
    .execute()

export const updateMemberRole = (db: Db, teamId: string, userId: string, role: Role) =>
  db.updateTable('team_members').set({ role }).where('team_id', '=', teamId).where('user_id', '=', userId).execute()

export const deleteMember = (db: Db, teamId: string, userId: string) => db.deleteFrom('team_members').where('team_id', '=', teamId).where('user_id', '=', userId).execute()

/** Teams the user owns, with how many other live members each has. */
export const listOwnedTeams = (db: Db, userId: string) =>
  db
    .selectFrom('team_members as m')
    .innerJoin('teams as t', 't.id', 'm.team_id')
    .select(['t.id'])
    .select((eb) =>
      eb
        .selectFrom('team_members as o')
        .innerJoin('users as ou', 'ou.id', 'o.user_id')
        .whereRef('o.team_id', '=', 't.id')
        .where('o.user_id', '!=', userId)
        .where('ou.deleted_at', 'is', null)
        .select(eb.fn.countAll<number>().as('n'))
        .as('others'),
    )
    .where('m.user_id', '=', userId)
    .where('m.role', '=', 'owner')
    .where('t.deleted_at', 'is', null)
    .execute()

export const listAllTeams = (db: Db) =>
  db
    .selectFrom('teams as t')
    .selectAll('t')
    .select((eb) => eb.selectFrom('team_members as m').innerJoin('users as u', 'u.id', 'm.user_id').whereRef('m.team_id', '=', 't.id').where('u.deleted_at', 'is', null).select(eb.fn.countAll<number>().as('n')).as('member_count'))
    .select((eb) => eb.selectFrom('team_members as m').innerJoin('users as u', 'u.id', 'm.user_id').whereRef('m.team_id', '=', 't.id').where('m.role', '=', 'owner').select('u.email').limit(1).as('owner_email'))
    .orderBy('t.created_at')
    .orderBy('t.id')
    .execute()
