/**
 * Who may do what to a team. Both surfaces share the roles (owner > admin >
 * member > viewer) and these checks; they differ only in how a team is reached
 * and in a few thresholds, which each surface's policy states.
 */
import type { Db } from '../core/db.ts'
import { forbidden, notFound, unauthorized } from '../core/errors.ts'
import { roleAtLeast, type Principal, type Role } from '../core/principal.ts'
import { findMembership, findTeamById } from './store.ts'

export type AccountPrincipal = Extract<Principal, { kind: 'user' | 'api_key' }>

export type TeamPolicy = {
  /**
   * 'active': the team must be the caller's active team (session scope or key team), else 403 (Wrenn).
   * 'member': any team the caller belongs to; other teams are 404, so existence does not leak (workspace API).
   */
  reach: 'active' | 'member'
  rename: Role
  remove: Role
  addMember: Role
  changeRole: Role
  removeMember: Role
  /** Roles that may be given to a member (never owner: ownership does not move). */
  assignable: readonly Role[]
}

/** compat(wrenn 003): rename/add/role/remove need admin or owner; delete needs owner; targets are admin|member. */
export const WRENN_POLICY: TeamPolicy = { reach: 'active', rename: 'admin', remove: 'owner', addMember: 'admin', changeRole: 'admin', removeMember: 'admin', assignable: ['admin', 'member'] }

/** compat(workspace 001): add by owner/maintainer; role changes, removals and deletion by the owner only. */
export const WORKSPACE_POLICY: TeamPolicy = { reach: 'member', rename: 'admin', remove: 'owner', addMember: 'admin', changeRole: 'owner', removeMember: 'owner', assignable: ['admin', 'member', 'viewer'] }

export function requireAccount(p: Principal): asserts p is AccountPrincipal {
  if (p.kind !== 'user' && p.kind !== 'api_key') throw unauthorized()
}

/** Account endpoints (password, sessions, providers, new teams) need a signed-in user, not an API key. */
export function requireUser(p: Principal): asserts p is Extract<Principal, { kind: 'user' }> {
  requireAccount(p)
  if (p.kind !== 'user') throw forbidden('this endpoint needs a user session, not an API key', 'session_required')
}

export function requireAdmin(p: Principal): asserts p is AccountPrincipal {
  requireAccount(p)
  if (!p.isAdmin) throw forbidden('platform admin access required', 'admin_required')
}

/** The caller's active team and role; throws when the caller has no team scope. */
export function activeTeam(p: Principal): { teamId: string; role: Role } {
  requireAccount(p)
  if (!p.teamId || !p.role) throw forbidden('no active team; switch to a team first', 'no_team')
  return { teamId: p.teamId, role: p.role }
}

export function requireRole(role: Role | null, min: Role) {
  if (!roleAtLeast(role, min)) throw forbidden(`this needs the ${min} role or higher`, 'insufficient_role')
}

/** Resolves a team the caller may reach under `policy` and the caller's role in it (verified from the database). */
export async function reachTeam(db: Db, p: Principal, teamId: string, policy: TeamPolicy) {
  requireAccount(p)
  if (policy.reach === 'active') {
    if (p.teamId !== teamId) throw forbidden('this team is not your active team', 'team_mismatch')
    const team = await findTeamById(db, teamId)
    if (!team) throw notFound('team not found', 'team_not_found')
    const role = p.kind === 'user' ? (await findMembership(db, teamId, p.userId))?.role : p.role
    if (!role) throw forbidden('you are not a member of this team', 'not_a_member')
    return { team, role }
  }
  const team = await findTeamById(db, teamId)
  const role = !team ? undefined : p.kind === 'user' ? (await findMembership(db, teamId, p.userId))?.role : p.teamId === teamId ? p.role : undefined
  if (!team || !role) throw notFound('workspace not found', 'not_found')
  return { team, role }
}
