/**
 * Browser sessions. The cookie carries a random token; the database keeps only
 * its SHA-256 (and the SHA-256 of the CSRF token issued with it). A session ends
 * after `idleSec` without use or `absoluteSec` after login, whichever is first.
 */
import { forbidden, notFound } from '../core/errors.ts'
import type { Principal, Role } from '../core/principal.ts'
import { sha256hex } from '../core/secrets.ts'
import { newSecret, type ClientInfo, type IdentityDeps } from './deps.ts'
import { deleteExpiredSessions, findSessionById, deleteSession, deleteSessionsOfUser, findSessionByTokenHash, findSessionOfUser, insertSession, listSessionsOfUser, touchSession } from './store.sessions.ts'
import { findMembership, findTeamById } from './store.ts'
import type { SessionSurface } from './tables.ts'

export type IssuedSession = { id: string; token: string; csrf: string; expiresAt: number; teamId: string | null }
export type UserPrincipal = Extract<Principal, { kind: 'user' }>
export type SessionAuth = { principal: UserPrincipal; csrfHash: string }

export function createSessionService(d: IdentityDeps) {
  const idleMs = d.config.sessions.idleSec * 1000
  const absoluteMs = d.config.sessions.absoluteSec * 1000
  // last_seen_at is advisory between touches; touching at most this often keeps reads off the write path.
  const touchEveryMs = Math.min(60_000, Math.floor(idleMs / 4))

  /** Creates a session for the user, scoped to `teamId`. `expiresAt` keeps an absolute end when rotating. */
  const start = async (userId: string, teamId: string | null, surface: SessionSurface, client: Pick<ClientInfo, 'ip' | 'userAgent'>, expiresAt?: number): Promise<IssuedSession> => {
    const now = d.clock.now()
    const sid = newSecret()
    const csrf = newSecret()
    const row = {
      id: d.ids.id('ses-', 16),
      token_hash: sid.hash,
      surface,
      user_id: userId,
      team_id: teamId,
      csrf_hash: csrf.hash,
      user_agent: client.userAgent.slice(0, 512),
      ip_address: client.ip.slice(0, 64),
      created_at: now,
      last_seen_at: now,
      expires_at: expiresAt ?? now + absoluteMs,
    }
    await insertSession(d.db, row)
    return { id: row.id, token: sid.token, csrf: csrf.token, expiresAt: row.expires_at, teamId }
  }

  /** The principal of a session row, or null (and the row removed) when it expired or its user is disabled/deleted. */
  async function live(row: NonNullable<Awaited<ReturnType<typeof findSessionByTokenHash>>>): Promise<SessionAuth | null> {
    const now = d.clock.now()
    if (now >= row.expires_at || now - row.last_seen_at >= idleMs || row.deleted_at != null || !row.is_active) {
      await deleteSession(d.db, row.id)
      return null
    }
    if (now - row.last_seen_at >= touchEveryMs) await touchSession(d.db, row.id, now)
    const role = (row.role ?? null) as Role | null
    const principal: UserPrincipal = {
      kind: 'user',
      userId: row.user_id,
      email: row.email,
      name: row.name,
      // A session whose team was deleted or left has no team scope until it switches.
      teamId: role ? row.team_id : null,
      role,
      isAdmin: !!row.is_admin,
      sessionId: row.id,
    }
    return { principal, csrfHash: row.csrf_hash }
  }

  return {
    idleMs,
    start,
    absoluteMs,

    /** The principal for a session cookie, or null when unknown, expired, or its user is disabled/deleted. */
    async authenticate(token: string, surface: SessionSurface): Promise<SessionAuth | null> {
      if (!token || token.length > 128) return null
      const row = await findSessionByTokenHash(d.db, sha256hex(token))
      if (!row || row.surface !== surface) return null
      return live(row)
    },

    /** The principal of a live session named by its id (of either surface), by the same rules as authenticate. */
    async authenticateId(id: string): Promise<SessionAuth | null> {
      const row = id && id.length <= 64 ? await findSessionById(d.db, id) : undefined
      return row ? live(row) : null
    },

    /** The caller's live sessions, the current one flagged. */
    async list(p: UserPrincipal) {
      const rows = await listSessionsOfUser(d.db, p.userId, d.clock.now(), idleMs)
      return rows.map((r) => ({ ...r, current: r.id === p.sessionId }))
    },

    /** Revokes one of the caller's sessions; another user's session is "not found". */
    async revoke(p: UserPrincipal, id: string) {
      const row = await findSessionOfUser(d.db, p.userId, id)
      if (!row) throw notFound('session not found')
      await deleteSession(d.db, id)
      await d.audit.record(p, { teamId: null, resourceType: 'session', resourceId: id, action: 'revoke' })
    },

    async logout(p: UserPrincipal) {
      await deleteSession(d.db, p.sessionId)
      await d.audit.record(p, { teamId: null, resourceType: 'session', resourceId: p.sessionId, action: 'logout' })
    },

    async logoutAll(p: UserPrincipal) {
      await deleteSessionsOfUser(d.db, p.userId)
      await d.audit.record(p, { teamId: null, resourceType: 'session', resourceId: p.userId, action: 'logout_all' })
    },

    /** Revokes every session of a user (password change, deactivation, deletion). */
    revokeAllOf: (userId: string) => deleteSessionsOfUser(d.db, userId),

    /**
     * Switch-team: issues a new session id scoped to `teamId` (membership checked
     * from the database) and revokes the old one; the absolute lifetime carries over.
     */
    async switchTeam(p: UserPrincipal, teamId: string, client: Pick<ClientInfo, 'ip' | 'userAgent'>): Promise<IssuedSession & { role: Role }> {
      const team = await findTeamById(d.db, teamId)
      if (!team) throw notFound('team not found', 'team_not_found')
      const m = await findMembership(d.db, teamId, p.userId)
      if (!m) throw forbidden('you are not a member of this team', 'not_a_member')
      const old = await findSessionOfUser(d.db, p.userId, p.sessionId)
      const issued = await start(p.userId, teamId, old?.surface ?? 'wrenn', client, old?.expires_at)
      await deleteSession(d.db, p.sessionId)
      await d.audit.record(p, { teamId, resourceType: 'session', resourceId: issued.id, action: 'switch_team', metadata: { from_team_id: p.teamId } })
      return { ...issued, role: m.role }
    },

    sweep: () => deleteExpiredSessions(d.db, d.clock.now(), idleMs),
  }
}
export type SessionService = ReturnType<typeof createSessionService>
