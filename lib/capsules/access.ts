/**
 * Who may see and change which capsule. Team routes see only the caller's team
 * (another team's capsule is "not found", so existence does not leak); viewers
 * read, members and above change. Admin routes see every team, platform admins only.
 */
import { forbidden, notFound, unauthorized } from '../core/errors.ts'
import { roleAtLeast, type Principal } from '../core/principal.ts'

export type Scope = 'team' | 'admin'
export type Need = 'read' | 'write'

/** The team a team-scoped caller acts for; throws for anonymous callers or a session with no team. */
export function callerTeam(p: Principal): string {
  if (p.kind === 'anonymous') throw unauthorized()
  if (p.kind !== 'user' && p.kind !== 'api_key') throw forbidden('this principal cannot use capsules')
  if (!p.teamId) throw forbidden('no team selected; switch to a team first', 'no_team')
  return p.teamId
}

/** Throws unless the caller may act in this scope at all (before any lookup). */
export function assertScope(p: Principal, scope: Scope, need: Need): void {
  if (scope === 'admin') {
    if (p.kind === 'anonymous') throw unauthorized()
    if (p.kind === 'system') return
    if (p.kind !== 'user' || !p.isAdmin) throw forbidden('platform admin required', 'admin_required')
    return
  }
  callerTeam(p)
  if (need === 'write' && !roleAtLeast((p as { role: Parameters<typeof roleAtLeast>[0] }).role, 'member'))
    throw forbidden('viewers can read capsules but not change them', 'insufficient_role')
}

/** Throws 404 unless `teamId` is visible to the caller in this scope. Call after assertScope. */
export function assertVisible(p: Principal, scope: Scope, teamId: string, what: string): void {
  if (scope === 'admin') return
  if (callerTeam(p) !== teamId) throw notFound(`${what} not found`)
}
