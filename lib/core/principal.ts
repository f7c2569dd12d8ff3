/**
 * Who is making a request. Resolved once per request by the auth middleware of
 * the surface; services take it as their first argument and check roles.
 */
export type Role = 'owner' | 'admin' | 'member' | 'viewer'

export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; userId: string; email: string; name: string; teamId: string | null; role: Role | null; isAdmin: boolean; sessionId: string }
  | { kind: 'api_key'; keyId: string; keyName: string; userId: string; teamId: string; role: Role; isAdmin: false }
  | { kind: 'system' }

export const anonymous: Principal = { kind: 'anonymous' }
export const system: Principal = { kind: 'system' }

const roleRank: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 }
export const roleAtLeast = (role: Role | null | undefined, min: Role) => role != null && roleRank[role] >= roleRank[min]

/** The actor fields an audit entry records for this principal. */
export function actorOf(p: Principal): { actorType: 'user' | 'api_key' | 'host' | 'system'; actorId: string; actorName: string } {
  switch (p.kind) {
    case 'user':
      return { actorType: 'user', actorId: p.userId, actorName: p.name || p.email }
    case 'api_key':
      return { actorType: 'api_key', actorId: p.keyId, actorName: p.keyName }
    default:
      return { actorType: 'system', actorId: '', actorName: 'system' }
  }
}
