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

/**
 * Metadata key of a capsule a nestbox service holds in reserve (a spare booted ahead for repo runs): its team
 * does not see it until the service claims it (lifecycle claim). Users cannot set it: their keys have no colon.
 */
export const RESERVED_KEY = 'nestbox:reserved'

/** Who holds the capsule in reserve, or null when it is not. (Called on every capsule lookup: most metadata never holds the key, and is not parsed.) */
export function reservedBy(row: { metadata: string }): string | null {
  if (!row.metadata.includes(RESERVED_KEY)) return null
  try {
    return (JSON.parse(row.metadata) as Record<string, string>)[RESERVED_KEY] ?? null
  } catch {
    return null
  }
}

/** False for a capsule held in reserve, which only the admin scope sees. */
export const visibleInScope = (scope: Scope, row: { metadata: string }): boolean => scope === 'admin' || reservedBy(row) === null
