/**
 * Who may use a sandbox's subdomain (seed 001): a browser enters once through
 * `/auth?token=` — a short-lived token naming the user's session, minted when the
 * API shows that user the sandbox — and gets a host-only cookie naming the same
 * session. Every request then needs the cookie, a session still alive, membership
 * of the sandbox's workspace, and the sandbox up. Checks are cached for a second
 * so a busy page costs no database work per request; a logout or removal from the
 * workspace takes effect within that second.
 */
import type { Db } from '../core/db.ts'
import { AppError } from '../core/errors.ts'
import type { Clock } from '../core/ids.ts'
import type { Principal } from '../core/principal.ts'
import { reachTeam, WORKSPACE_POLICY } from '../identity/access.ts'
import type { SessionService } from '../identity/sessions.ts'
import type { SandboxRow, SandboxType } from './tables.ts'
import type { SandboxTokens } from './tokens.ts'

export const ENTRY_TTL_MS = 60 * 60_000
const CACHE_MS = 1000
const CACHE_MAX = 10_000

export type Prefixes = Record<SandboxType, string>

export function createEntry(d: { db: Db; clock: Clock; tokens: SandboxTokens; sessions: Pick<SessionService, 'authenticateId'>; prefixes: Prefixes; baseDomain: string }) {
  const byPrefix = new Map(Object.entries(d.prefixes).map(([type, prefix]) => [prefix, type as SandboxType]))
  const admitted = new Map<string, number>()

  /** A session that is alive and whose user is a member of the sandbox's workspace; throws the page's error otherwise. */
  async function member(sb: SandboxRow, sessionId: string) {
    const auth = await d.sessions.authenticateId(sessionId)
    if (!auth) throw new AppError(401, 'session_expired', 'Your nestbox session has ended. Sign in again and open the sandbox from its workspace.')
    await reachTeam(d.db, auth.principal, sb.team_id, WORKSPACE_POLICY).catch(() => {
      throw new AppError(403, 'not_a_member', 'You are not a member of the workspace this sandbox belongs to.')
    })
  }

  return {
    /** `{prefix}-{shortId}.{baseDomain}` → the sandbox type and short id, else null. */
    parseHost(host: string | undefined): { type: SandboxType; shortId: string } | null {
      if (!host || !d.baseDomain) return null
      const name = host.toLowerCase()
      if (!name.endsWith(`.${d.baseDomain}`)) return null
      const m = /^([a-z][a-z0-9]*)-([0-9a-f]{12})$/.exec(name.slice(0, -d.baseDomain.length - 1))
      const type = m && byPrefix.get(m[1])
      return type ? { type, shortId: m[2] } : null
    },

    /** The sandbox's entry URL for this caller (with a token when the caller is a user session), or null without a base domain. */
    url(p: Principal, sb: SandboxRow, scheme: string): string | null {
      if (!d.baseDomain) return null
      const base = `${scheme}//${d.prefixes[sb.type]}-${sb.short_id}.${d.baseDomain}`
      if (p.kind !== 'user') return `${base}/`
      const exp = Math.floor((d.clock.now() + ENTRY_TTL_MS) / 1000)
      const payload = `${sb.id}.${p.sessionId}.${exp}`
      return `${base}/auth?token=${p.sessionId}.${exp}.${d.tokens.sign('entry', payload)}`
    },

    /** Checks an entry token; resolves to the cookie value to set. */
    async enter(sb: SandboxRow, token: string): Promise<string> {
      const [sessionId, exp, sig] = token.split('.')
      const valid = !!sessionId && /^\d{1,12}$/.test(exp ?? '') && !!sig && Number(exp) * 1000 > d.clock.now() && d.tokens.verify('entry', `${sb.id}.${sessionId}.${exp}`, sig)
      if (!valid) throw new AppError(401, 'invalid_entry_token', 'This sandbox link is invalid or has expired. Open the sandbox again from its workspace.')
      await member(sb, sessionId)
      return `${sessionId}.${d.tokens.sign('cookie', `${sb.id}.${sessionId}`)}`
    },

    /** Lets a request with this cookie through, or throws the page's error. */
    async admit(sb: SandboxRow, cookie: string | undefined): Promise<void> {
      if (!cookie) throw new AppError(401, 'no_entry', 'Open this sandbox from its workspace in nestbox (the link signs you in here).')
      const key = `${sb.id} ${cookie}`
      const until = admitted.get(key)
      if (until !== undefined && until > d.clock.now()) return
      const [sessionId, sig] = cookie.split('.')
      if (!sessionId || !sig || !d.tokens.verify('cookie', `${sb.id}.${sessionId}`, sig)) throw new AppError(401, 'no_entry', 'Open this sandbox from its workspace in nestbox (the link signs you in here).')
      await member(sb, sessionId)
      if (admitted.size >= CACHE_MAX) admitted.clear()
      admitted.set(key, d.clock.now() + CACHE_MS)
    },
  }
}
export type Entry = ReturnType<typeof createEntry>
