/** Teams (a workspace is a team), memberships and member search. */
import type { Db } from '../core/db.ts'
import { forbidden, invalid, notFound } from '../core/errors.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Principal, Role } from '../core/principal.ts'
import { reachTeam, requireAccount, requireRole, requireUser, type TeamPolicy } from './access.ts'
import { newTeamSlug, parseEmail, parseTeamName, type IdentityDeps } from './deps.ts'
import { deleteMember, findMembership, findUserByEmail, findUserById, insertMember, insertTeam, listMembers, listTeamsOfUser, searchUsersByEmailPrefix, updateMemberRole, updateTeam } from './store.ts'

/** Creates a team owned by `userId` (call inside the caller's transaction). */
export async function insertTeamWithOwner(db: Db, d: { ids: IdGen; clock: Clock }, userId: string, name: string) {
  const now = d.clock.now()
  const team = { id: d.ids.id('team-', 16), name, slug: newTeamSlug(), is_byoc: 0, created_at: now, deleted_at: null }
  await insertTeam(db, team)
  await insertMember(db, { team_id: team.id, user_id: userId, role: 'owner', created_at: now })
  return team
}

/** Soft-deletes a team: records stay, the slug stays reserved, and "team.delete" tells other domains to stop its resources. */
export async function softDeleteTeam(d: IdentityDeps, actor: Principal, teamId: string, via: 'owner' | 'admin') {
  await updateTeam(d.db, teamId, { deleted_at: d.clock.now() })
  d.bus.publish({ type: 'team.delete', teamId, resourceType: 'team', resourceId: teamId, data: { via } })
  await d.audit.record(actor, { teamId, resourceType: 'team', resourceId: teamId, action: 'delete', metadata: { via } })
}

export function createTeamService(d: IdentityDeps) {
  const members = async (teamId: string) => listMembers(d.db, teamId)

  return {
    /** Teams the caller belongs to with their role; an API key sees only its own team. */
    async list(p: Principal) {
      requireAccount(p)
      const rows = await listTeamsOfUser(d.db, p.userId)
      return p.kind === 'api_key' ? rows.filter((t) => t.id === p.teamId).map((t) => ({ ...t, role: p.role })) : rows
    },

    /** Creates a team owned by the caller. */
    async create(p: Principal, input: { name?: unknown }) {
      requireUser(p)
      const name = parseTeamName(input.name)
      const team = await d.db.transaction().execute((tx) => insertTeamWithOwner(tx, d, p.userId, name))
      await d.audit.record(p, { teamId: team.id, resourceType: 'team', resourceId: team.id, action: 'create', metadata: { name } })
      return { ...team, role: 'owner' as Role }
    },

    async get(p: Principal, teamId: string, policy: TeamPolicy) {
      const { team, role } = await reachTeam(d.db, p, teamId, policy)
      return { team, role, members: await members(teamId) }
    },

    async rename(p: Principal, teamId: string, input: { name?: unknown }, policy: TeamPolicy) {
      const { role } = await reachTeam(d.db, p, teamId, policy)
      requireRole(role, policy.rename)
      const name = parseTeamName(input.name)
      await updateTeam(d.db, teamId, { name })
      await d.audit.record(p, { teamId, resourceType: 'team', resourceId: teamId, action: 'rename', metadata: { name } })
    },

    async remove(p: Principal, teamId: string, policy: TeamPolicy) {
      const { role } = await reachTeam(d.db, p, teamId, policy)
      requireRole(role, policy.remove)
      await softDeleteTeam(d, p, teamId, 'owner')
    },

    async members(p: Principal, teamId: string, policy: TeamPolicy) {
      await reachTeam(d.db, p, teamId, policy)
      return members(teamId)
    },

    /** Adds an existing account by email (or id) with `role` (default member). */
    async addMember(p: Principal, teamId: string, input: { email?: unknown; userId?: unknown; role?: unknown }, policy: TeamPolicy) {
      const { role: mine } = await reachTeam(d.db, p, teamId, policy)
      requireRole(mine, policy.addMember)
      const role = parseAssignable(input.role ?? 'member', policy)
      const user = typeof input.userId === 'string' && input.email === undefined ? await findUserById(d.db, input.userId) : await findUserByEmail(d.db, parseEmail(input.email))
      if (!user || !user.is_active) throw notFound('no account with that email', 'user_not_found')
      if (await findMembership(d.db, teamId, user.id)) throw invalid('user is already a member', 'already_member')
      const now = d.clock.now()
      await insertMember(d.db, { team_id: teamId, user_id: user.id, role, created_at: now })
      await d.audit.record(p, { teamId, resourceType: 'member', resourceId: user.id, action: 'add', metadata: { email: user.email, role } })
      return { user_id: user.id, email: user.email, name: user.name, role, created_at: now }
    },

    async setMemberRole(p: Principal, teamId: string, userId: string, input: { role?: unknown }, policy: TeamPolicy) {
      const { role: mine } = await reachTeam(d.db, p, teamId, policy)
      requireRole(mine, policy.changeRole)
      const role = parseAssignable(input.role, policy)
      const m = await liveMember(teamId, userId)
      if (m.role === 'owner') throw forbidden("the owner's role cannot be changed", 'owner_immutable')
      await updateMemberRole(d.db, teamId, userId, role)
      await d.audit.record(p, { teamId, resourceType: 'member', resourceId: userId, action: 'role_update', metadata: { from: m.role, to: role } })
    },

    async removeMember(p: Principal, teamId: string, userId: string, policy: TeamPolicy) {
      const { role: mine } = await reachTeam(d.db, p, teamId, policy)
      requireRole(mine, policy.removeMember)
      const m = await liveMember(teamId, userId)
      if (m.role === 'owner') throw forbidden('the owner cannot be removed', 'owner_immutable')
      await deleteMember(d.db, teamId, userId)
      await d.audit.record(p, { teamId, resourceType: 'member', resourceId: userId, action: 'remove' })
    },

    /** The caller leaves the team; the owner must delete it instead. */
    async leave(p: Principal, teamId: string, policy: TeamPolicy) {
      requireUser(p)
      const { role } = await reachTeam(d.db, p, teamId, policy)
      if (role === 'owner') throw forbidden('the owner cannot leave; delete the team instead', 'owner_cannot_leave')
      await deleteMember(d.db, teamId, p.userId)
      await d.audit.record(p, { teamId, resourceType: 'member', resourceId: p.userId, action: 'leave' })
    },

    /** compat(wrenn 003): up to 10 accounts whose email starts with `prefix`; the prefix must contain "@". */
    async searchUsers(p: Principal, prefix: unknown) {
      requireAccount(p)
      if (typeof prefix !== 'string' || !prefix.includes('@') || prefix.length > 254) throw invalid('email prefix must contain "@"', 'invalid_email_prefix')
      return searchUsersByEmailPrefix(d.db, prefix.trim(), 10)
    },
  }

  async function liveMember(teamId: string, userId: string) {
    const m = await findMembership(d.db, teamId, userId)
    if (!m || !(await findUserById(d.db, userId))) throw notFound('user is not a member of this team', 'member_not_found')
    return m
  }
}

function parseAssignable(v: unknown, policy: TeamPolicy): Role {
  if (typeof v !== 'string' || !policy.assignable.includes(v as Role)) throw invalid(`role must be one of ${policy.assignable.join(', ')}`, 'invalid_role')
  return v as Role
}
export type TeamService = ReturnType<typeof createTeamService>
