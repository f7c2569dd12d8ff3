/** Platform administration: users and teams across the whole install. Every call needs a platform admin. */
import { invalid, notFound } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import { requireAdmin } from './access.ts'
import type { AccountService } from './accounts.ts'
import type { IdentityDeps } from './deps.ts'
import type { SessionService } from './sessions.ts'
import { countActiveAdmins, findTeamById, findUserById, listAllTeams, listUsers, updateTeam, updateUser } from './store.ts'
import { softDeleteTeam } from './teams.ts'

export function createAdminService(d: IdentityDeps, accounts: AccountService, sessions: SessionService) {
  const parseBool = (v: unknown, field: string) => {
    if (typeof v !== 'boolean') throw invalid(`${field} must be true or false`)
    return v
  }
  const liveUser = async (id: string) => {
    const u = await findUserById(d.db, id)
    if (!u) throw notFound('user not found', 'user_not_found')
    return u
  }

  return {
    async listUsers(p: Principal) {
      requireAdmin(p)
      return listUsers(d.db)
    },

    async listTeams(p: Principal) {
      requireAdmin(p)
      return listAllTeams(d.db)
    },

    /** Activates (a pending signup too, with its default team) or deactivates an account; deactivation ends its sessions and keys. */
    async setActive(p: Principal, userId: string, input: { active?: unknown }) {
      requireAdmin(p)
      const active = parseBool(input.active, 'active')
      const u = await liveUser(userId)
      if (!active && p.userId === userId) throw invalid('you cannot deactivate yourself', 'cannot_deactivate_self')
      if (!active && u.is_admin && u.is_active && (await countActiveAdmins(d.db)) <= 1) throw invalid('cannot deactivate the last admin', 'last_admin')
      if (active) await accounts.activateUser(userId)
      else {
        await updateUser(d.db, userId, { is_active: 0, updated_at: d.clock.now() })
        await sessions.revokeAllOf(userId)
      }
      await d.audit.record(p, { teamId: null, resourceType: 'user', resourceId: userId, action: active ? 'activate' : 'deactivate', metadata: { by: 'admin' } })
    },

    /** Grants or revokes platform admin; the last admin cannot be revoked. Takes effect on the user's next request. */
    async setAdmin(p: Principal, userId: string, input: { admin?: unknown }) {
      requireAdmin(p)
      const admin = parseBool(input.admin, 'admin')
      const u = await liveUser(userId)
      if (!admin && u.is_admin && (await countActiveAdmins(d.db)) <= 1) throw invalid('cannot remove the last admin', 'last_admin')
      await updateUser(d.db, userId, { is_admin: admin ? 1 : 0, updated_at: d.clock.now() })
      await d.audit.record(p, { teamId: null, resourceType: 'user', resourceId: userId, action: admin ? 'grant_admin' : 'revoke_admin' })
    },

    async setByoc(p: Principal, teamId: string, input: { byoc?: unknown }) {
      requireAdmin(p)
      const byoc = parseBool(input.byoc, 'byoc')
      if (!(await findTeamById(d.db, teamId))) throw notFound('team not found', 'team_not_found')
      await updateTeam(d.db, teamId, { is_byoc: byoc ? 1 : 0 })
      await d.audit.record(p, { teamId, resourceType: 'team', resourceId: teamId, action: 'set_byoc', metadata: { byoc } })
    },

    async deleteTeam(p: Principal, teamId: string) {
      requireAdmin(p)
      if (!(await findTeamById(d.db, teamId))) throw notFound('team not found', 'team_not_found')
      await softDeleteTeam(d, p, teamId, 'admin')
    },
  }
}
export type AdminService = ReturnType<typeof createAdminService>
