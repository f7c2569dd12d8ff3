/**
 * Accounts: signup with email activation, password login, profile, password
 * change/add/reset, deletion. No answer reveals whether an email is registered,
 * except signup's 409 (compat(wrenn 003)).
 */
import { AppError, conflict, forbidden, invalid, notFound, unauthorized, unavailable } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import { hashPassword, sha256hex, verifyPassword } from '../core/secrets.ts'
import { requireAccount, requireUser } from './access.ts'
import { defaultTeamName, newSecret, parseEmail, parseName, parsePassword, type ClientInfo, type IdentityDeps } from './deps.ts'
import { createTtlCache } from './cache.ts'
import { createRateLimiter } from './rate-limit.ts'
import type { IssuedSession, SessionService } from './sessions.ts'
import { deleteApiKeysOfUser } from './store.keys.ts'
import { hardDeleteUser, findUserByEmail, findUserById, insertUser, listOwnedTeams, listTeamsOfUser, updateUser, updateTeam, deleteMember } from './store.ts'
import { consumeEmailToken, deleteEmailTokensOfUser, deleteOAuthIdentitiesOfUser, findEmailToken, insertEmailToken, latestEmailToken, listOAuthIdentitiesOfUser } from './store.tokens.ts'
import type { SessionSurface } from './tables.ts'
import { insertTeamWithOwner } from './teams.ts'

const ACTIVATION_MS = 30 * 60_000
const RESET_MS = 15 * 60_000

export type LoginResult = { session: IssuedSession; user: { id: string; email: string; name: string; isAdmin: boolean }; role: string | null }

export function createAccountService(d: IdentityDeps, sessions: SessionService) {
  const rl = d.config.rateLimit
  const windowMs = rl.windowSec * 1000
  const limits = {
    loginIp: createRateLimiter({ limit: rl.loginPerIp, windowMs, clock: d.clock }),
    loginAccount: createRateLimiter({ limit: rl.loginPerAccount, windowMs, clock: d.clock }),
    signupIp: createRateLimiter({ limit: rl.signupPerIp, windowMs, clock: d.clock }),
    signupEmail: createRateLimiter({ limit: rl.signupPerEmail, windowMs, clock: d.clock }),
  }
  type Profile = { id: string; name: string; email: string; hasPassword: boolean; isAdmin: boolean; providers: string[] }
  const profiles = createTtlCache<Profile>({ ttlMs: 5_000, max: 10_000, clock: d.clock })
  const limited = (sec: number) => {
    if (sec > 0) throw new AppError(429, 'rate_limited', 'too many attempts; try again later', { headers: { 'Retry-After': String(Math.max(1, Math.ceil(sec))) } })
  }

  /** Opens a session in the user's first team (or none) and returns what login responses carry. */
  async function openSession(userId: string, surface: SessionSurface, client: ClientInfo): Promise<LoginResult> {
    const u = (await findUserById(d.db, userId))!
    const first = (await listTeamsOfUser(d.db, userId))[0]
    const session = await sessions.start(userId, first?.id ?? null, surface, client)
    return { session, user: { id: u.id, email: u.email, name: u.name, isAdmin: !!u.is_admin }, role: first?.role ?? null }
  }

  /** Makes a pending account active and gives it a default team if it has none. */
  async function activateUser(userId: string) {
    const now = d.clock.now()
    const team = await d.db.transaction().execute(async (tx) => {
      const u = await findUserById(tx, userId)
      if (!u) throw notFound('user not found')
      await updateUser(tx, userId, { is_active: 1, activated_at: u.activated_at ?? now, updated_at: now })
      await deleteEmailTokensOfUser(tx, userId, 'activate')
      if ((await listTeamsOfUser(tx, userId)).length === 0) return insertTeamWithOwner(tx, d, userId, defaultTeamName(u.name))
    })
    if (team) await d.audit.record({ kind: 'system' }, { teamId: team.id, resourceType: 'team', resourceId: team.id, action: 'create', metadata: { name: team.name, default: true } })
  }

  async function sendLink(to: string, subject: string, lines: string[]) {
    await d.mailer.send({ to, subject, text: lines.join('\n') + '\n' })
  }

  return {
    limits,
    /** Forgets cached profiles; called after any audited change to users. */
    invalidateProfiles: () => profiles.clear(),
    openSession,
    activateUser,

    /** Creates an inactive account and emails an activation link (valid 30 minutes). */
    async signup(input: { email?: unknown; password?: unknown; name?: unknown }, client: ClientInfo) {
      limited(limits.signupIp.take(`ip:${client.ip}`))
      const email = parseEmail(input.email)
      const password = parsePassword(input.password)
      const name = parseName(input.name ?? '', { allowEmpty: true })
      limited(limits.signupEmail.take(`email:${email.toLowerCase()}`))
      const existing = await findUserByEmail(d.db, email)
      if (existing) {
        const pending = existing.activated_at == null && !existing.is_active
        const tok = pending ? await latestEmailToken(d.db, existing.id, 'activate') : undefined
        if (!pending || (tok && tok.expires_at > d.clock.now())) throw conflict('email already registered or signup cooldown active', 'email_taken')
        await hardDeleteUser(d.db, existing.id) // an expired, never-activated signup frees its email
      }
      const passwordHash = await hashPassword(password)
      const now = d.clock.now()
      const userId = d.ids.id('usr-', 16)
      const token = newSecret()
      await d.db.transaction().execute(async (tx) => {
        await insertUser(tx, { id: userId, email, name, password_hash: passwordHash, is_active: 0, is_admin: 0, created_at: now, updated_at: now, deleted_at: null })
        await insertEmailToken(tx, { token_hash: token.hash, user_id: userId, purpose: 'activate', created_at: now, expires_at: now + ACTIVATION_MS, used_at: null })
      })
      try {
        await sendLink(email, 'Activate your nestbox account', [
          `Hello${name ? ' ' + name : ''},`, '', 'Activate your account within 30 minutes:', `${d.links.app}/activate?token=${token.token}`, '', `Activation token: ${token.token}`,
        ])
      } catch (err) {
        d.log.error('activation mail failed', { err, to: email })
        await hardDeleteUser(d.db, userId) // nothing half-written: without the mail the account could never activate
        throw unavailable('could not send the activation email; try again later', 'mail_failed')
      }
      await d.audit.record({ kind: 'system' }, { teamId: null, resourceType: 'user', resourceId: userId, action: 'signup', metadata: { email } })
      return { userId }
    },

    /** Consumes an activation token, activates the account (with a default team) and logs in. */
    async activate(input: { token?: unknown }, surface: SessionSurface, client: ClientInfo): Promise<LoginResult> {
      const raw = typeof input.token === 'string' ? input.token : ''
      const row = raw ? await findEmailToken(d.db, sha256hex(raw), 'activate') : undefined
      if (!row || row.used_at != null || row.expires_at <= d.clock.now() || !(await consumeEmailToken(d.db, row.token_hash, d.clock.now())))
        throw invalid('invalid or expired activation token', 'invalid_token')
      await activateUser(row.user_id)
      const res = await openSession(row.user_id, surface, client)
      await d.audit.record(principalOf(res), { teamId: null, resourceType: 'user', resourceId: row.user_id, action: 'activate' })
      return res
    },

    /** Email + password login, rate limited per client address and per account. */
    async login(input: { email?: unknown; password?: unknown }, surface: SessionSurface, client: ClientInfo): Promise<LoginResult> {
      limited(limits.loginIp.take(`ip:${client.ip}`))
      if (typeof input.email !== 'string' || typeof input.password !== 'string' || !input.email || !input.password) throw invalid('email and password are required')
      const account = `acct:${input.email.trim().toLowerCase()}`
      limited(limits.loginAccount.retryAfter(account))
      const user = await findUserByEmail(d.db, input.email.trim())
      const ok = await verifyPassword(input.password, user?.password_hash) // unknown accounts cost the same scrypt
      if (!user || !ok) {
        limits.loginAccount.take(account)
        if (user) await d.audit.record({ kind: 'system' }, { teamId: null, resourceType: 'user', resourceId: user.id, action: 'login', status: 'failure', metadata: { ip: client.ip } })
        throw unauthorized('invalid email or password', 'invalid_credentials')
      }
      if (user.activated_at == null) throw forbidden('account is not activated; check your email', 'account_not_activated')
      if (!user.is_active) throw forbidden('account is disabled', 'account_disabled')
      limits.loginAccount.reset(account)
      const res = await openSession(user.id, surface, client)
      await d.audit.record(principalOf(res), { teamId: null, resourceType: 'session', resourceId: res.session.id, action: 'login', metadata: { ip: client.ip, method: 'password' } })
      return res
    },

    /** The caller's profile when it is cached (synchronously: the hot path of GET /me); undefined = ask me(). */
    cachedMe(p: Principal) {
      requireAccount(p)
      const profile = profiles.get(p.userId)
      return profile && { ...profile, teamId: p.teamId, role: p.role }
    },

    /** The caller's profile. */
    async me(p: Principal) {
      requireAccount(p)
      let profile = profiles.get(p.userId)
      if (!profile) {
        const u = await findUserById(d.db, p.userId)
        if (!u) throw notFound('user not found')
        const providers = (await listOAuthIdentitiesOfUser(d.db, u.id)).map((i) => i.provider)
        profile = { id: u.id, name: u.name, email: u.email, hasPassword: u.password_hash != null, isAdmin: !!u.is_admin, providers }
        profiles.set(u.id, profile)
      }
      return { ...profile, teamId: p.teamId, role: p.role }
    },

    async updateName(p: Principal, input: { name?: unknown }) {
      requireUser(p)
      const name = parseName(input.name)
      await updateUser(d.db, p.userId, { name, updated_at: d.clock.now() })
      await d.audit.record(p, { teamId: null, resourceType: 'user', resourceId: p.userId, action: 'update_name' })
    },

    /** Changes the password (needs the current one) or adds one to an OAuth-only account; revokes every session. */
    async changePassword(p: Principal, input: { current_password?: unknown; new_password?: unknown; confirm_password?: unknown }) {
      requireUser(p)
      const u = await findUserById(d.db, p.userId)
      if (!u) throw notFound('user not found')
      const next = parsePassword(input.new_password, 'new_password')
      if (u.password_hash) {
        const account = `acct:${u.email.toLowerCase()}`
        limited(limits.loginAccount.retryAfter(account))
        if (typeof input.current_password !== 'string' || !(await verifyPassword(input.current_password, u.password_hash))) {
          limits.loginAccount.take(account)
          throw unauthorized('current password is incorrect', 'invalid_credentials')
        }
      } else if (input.confirm_password !== next) throw invalid('confirm_password must match new_password', 'password_mismatch')
      await updateUser(d.db, u.id, { password_hash: await hashPassword(next), updated_at: d.clock.now() })
      await sessions.revokeAllOf(u.id)
      await d.audit.record(p, { teamId: null, resourceType: 'user', resourceId: u.id, action: u.password_hash ? 'password_change' : 'password_add' })
    },

    /** Emails a reset link (valid 15 minutes) when the account exists; the caller cannot tell either way. */
    async requestReset(input: { email?: unknown }, client: ClientInfo) {
      limited(limits.signupIp.take(`ip:${client.ip}`))
      if (typeof input.email !== 'string') throw invalid('email is required', 'invalid_email')
      const email = input.email.trim()
      if (limits.signupEmail.take(`reset:${email.toLowerCase()}`) > 0) return // silently: a 429 here would reveal nothing, but mail floods must stop
      const user = email ? await findUserByEmail(d.db, email) : undefined
      if (!user || !user.is_active || user.activated_at == null) return
      const now = d.clock.now()
      const token = newSecret()
      await insertEmailToken(d.db, { token_hash: token.hash, user_id: user.id, purpose: 'reset', created_at: now, expires_at: now + RESET_MS, used_at: null })
      try {
        await sendLink(user.email, 'Reset your nestbox password', [
          'Someone asked to reset the password of this account. If it was not you, ignore this message.', '', 'Reset it within 15 minutes:', `${d.links.app}/reset-password?token=${token.token}`, '', `Reset token: ${token.token}`,
        ])
      } catch (err) {
        d.log.error('reset mail failed', { err })
      }
      await d.audit.record({ kind: 'system' }, { teamId: null, resourceType: 'user', resourceId: user.id, action: 'password_reset_request' })
    },

    /** Consumes a reset token, sets the new password and revokes every session. */
    async confirmReset(input: { token?: unknown; new_password?: unknown }) {
      const next = parsePassword(input.new_password, 'new_password')
      const raw = typeof input.token === 'string' ? input.token : ''
      const row = raw ? await findEmailToken(d.db, sha256hex(raw), 'reset') : undefined
      const user = row ? await findUserById(d.db, row.user_id) : undefined
      if (!row || !user || row.used_at != null || row.expires_at <= d.clock.now() || !(await consumeEmailToken(d.db, row.token_hash, d.clock.now())))
        throw invalid('invalid or expired reset token', 'invalid_token')
      await updateUser(d.db, user.id, { password_hash: await hashPassword(next), updated_at: d.clock.now() })
      await deleteEmailTokensOfUser(d.db, user.id, 'reset')
      await sessions.revokeAllOf(user.id)
      await d.audit.record({ kind: 'system' }, { teamId: null, resourceType: 'user', resourceId: user.id, action: 'password_reset' })
    },

    /**
     * Soft-deletes the caller's account (purged after 15 days). Refused while they
     * own a team with other members; teams they own alone are deleted with it.
     */
    async deleteAccount(p: Principal, input: { confirmation?: unknown }) {
      requireUser(p)
      const u = await findUserById(d.db, p.userId)
      if (!u) throw notFound('user not found')
      if (typeof input.confirmation !== 'string' || input.confirmation.trim().toLowerCase() !== u.email.toLowerCase()) throw invalid('confirmation does not match your email', 'confirmation_mismatch')
      const owned = await listOwnedTeams(d.db, u.id)
      if (owned.some((t) => Number(t.others) > 0)) throw conflict('you own teams with other members; transfer or delete them first', 'owns_teams')
      const now = d.clock.now()
      await d.db.transaction().execute(async (tx) => {
        for (const t of owned) await updateTeam(tx, t.id, { deleted_at: now })
        for (const t of await listTeamsOfUser(tx, u.id)) await deleteMember(tx, t.id, u.id)
        await updateUser(tx, u.id, { deleted_at: now, is_active: 0, updated_at: now })
        await deleteApiKeysOfUser(tx, u.id)
        await deleteOAuthIdentitiesOfUser(tx, u.id)
        await deleteEmailTokensOfUser(tx, u.id)
      })
      await sessions.revokeAllOf(u.id)
      for (const t of owned) d.bus.publish({ type: 'team.delete', teamId: t.id, resourceType: 'team', resourceId: t.id, data: { via: 'account_delete' } })
      await d.audit.record(p, { teamId: null, resourceType: 'user', resourceId: u.id, action: 'delete', metadata: { teams_deleted: owned.map((t) => t.id) } })
    },
  }
}

/** The principal of a freshly issued session, for audit entries. */
export function principalOf(r: LoginResult): Principal {
  return { kind: 'user', userId: r.user.id, email: r.user.email, name: r.user.name, teamId: r.session.teamId, role: null, isAdmin: r.user.isAdmin, sessionId: r.session.id }
}
export type AccountService = ReturnType<typeof createAccountService>
