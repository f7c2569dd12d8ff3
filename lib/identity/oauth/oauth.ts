/**
 * Login and account linking through external providers. A flow's state is a
 * random value sent to the provider, set in a cookie, and kept (hashed, single
 * use, 10 minutes) with what the callback needs: provider, surface, PKCE
 * verifier, nonce, and the account to link to. An email that already belongs to
 * an account is never merged into it by login ("email_taken"): linking is an
 * explicit, signed-in action.
 */
import { AppError, invalid, notFound } from '../../core/errors.ts'
import type { Principal } from '../../core/principal.ts'
import { safeEqual, sha256hex } from '../../core/secrets.ts'
import { randomBytes } from 'node:crypto'
import { requireUser } from '../access.ts'
import { principalOf, type AccountService, type LoginResult } from '../accounts.ts'
import { defaultTeamName, type ClientInfo, type IdentityDeps } from '../deps.ts'
import type { OAuthProvider } from './oauth-provider.ts'
import { findUserByEmail, findUserById, insertUser } from '../store.ts'
import { deleteOAuthIdentity, findOAuthIdentity, insertOAuthIdentity, insertOAuthState, listOAuthIdentitiesOfUser, takeOAuthState } from '../store.tokens.ts'
import type { SessionSurface } from '../tables.ts'
import { insertTeamWithOwner } from '../teams.ts'
import type { UserPrincipal } from '../sessions.ts'

const STATE_MS = 10 * 60_000

/** A failed callback; `code` is one of the seed's callback error codes and goes back to the app in the redirect. */
export class OAuthFlowError extends AppError {
  constructor(code: string, message: string, cause?: unknown) {
    super(400, code, message, { cause })
  }
}

export type CallbackOutcome = { kind: 'login'; result: LoginResult } | { kind: 'linked'; userId: string }

export function createOAuthService(d: IdentityDeps, accounts: AccountService, providers: OAuthProvider[]) {
  const byName = new Map(providers.map((p) => [p.name, p]))
  const provider = (name: string) => {
    const p = byName.get(name)
    if (!p) throw notFound(`login provider "${name}" is not configured`, 'provider_not_found')
    return p
  }

  return {
    configured: () => [...byName.keys()],
    has: (name: string) => byName.has(name),

    /** Starts a login (or, with `linkTo`, a link) flow back to `callbackPath` on this API; returns the provider URL and the state for the cookie. */
    async begin(name: string, surface: SessionSurface, callbackPath: string, linkTo?: Principal): Promise<{ url: string; state: string }> {
      const prov = provider(name)
      if (linkTo) requireUser(linkTo)
      const redirectUri = d.links.api + callbackPath
      const state = randomBytes(24).toString('base64url')
      const codeVerifier = randomBytes(32).toString('base64url')
      const nonce = randomBytes(16).toString('base64url')
      const url = await prov.authorizeUrl({ state, redirectUri, codeVerifier, nonce }).catch((err) => {
        d.log.warn('oauth authorize url failed', { provider: name, err })
        throw new AppError(502, 'provider_unavailable', 'the login provider is unavailable')
      })
      const now = d.clock.now()
      await insertOAuthState(d.db, {
        state_hash: sha256hex(state), provider: name, surface, link_user_id: linkTo?.kind === 'user' ? linkTo.userId : null,
        redirect_uri: redirectUri, code_verifier: codeVerifier, nonce, created_at: now, expires_at: now + STATE_MS,
      })
      return { url: url.toString(), state }
    },

    /** Handles the provider's callback: checks the state against the cookie and the stored flow, then logs in or links. */
    async complete(name: string, surface: SessionSurface, query: URLSearchParams, stateCookie: string | undefined, client: ClientInfo): Promise<CallbackOutcome> {
      const prov = provider(name)
      const state = query.get('state') ?? ''
      if (query.get('error')) {
        if (state) await takeOAuthState(d.db, sha256hex(state))
        throw new OAuthFlowError('access_denied', 'the provider denied access')
      }
      if (!state || !stateCookie || !safeEqual(state, stateCookie)) throw new OAuthFlowError('invalid_state', 'state does not match')
      const row = await takeOAuthState(d.db, sha256hex(state))
      if (!row || row.provider !== name || row.surface !== surface || row.expires_at <= d.clock.now()) throw new OAuthFlowError('invalid_state', 'unknown or expired state')
      if (!query.get('code')) throw new OAuthFlowError('missing_code', 'the callback has no code')
      const callbackUrl = new URL(row.redirect_uri)
      callbackUrl.search = query.toString()
      const profile = await prov.exchange({ state, redirectUri: row.redirect_uri, codeVerifier: row.code_verifier, nonce: row.nonce, callbackUrl }).catch((err) => {
        d.log.warn('oauth exchange failed', { provider: name, err })
        throw new OAuthFlowError('exchange_failed', 'could not complete the login with the provider', err)
      })
      const existing = await findOAuthIdentity(d.db, name, profile.subject)

      if (row.link_user_id) {
        const user = await findUserById(d.db, row.link_user_id)
        if (!user || !user.is_active) throw new OAuthFlowError('access_denied', 'account is not active')
        if (existing && existing.user_id !== user.id) throw new OAuthFlowError('provider_in_use', 'this provider account is linked to another user')
        if (!existing) {
          if ((await listOAuthIdentitiesOfUser(d.db, user.id)).some((i) => i.provider === name)) throw new OAuthFlowError('already_linked', 'another account of this provider is already linked')
          await insertOAuthIdentity(d.db, { provider: name, subject: profile.subject, user_id: user.id, email: profile.email ?? '', created_at: d.clock.now() })
        }
        const actor: Principal = { kind: 'user', userId: user.id, email: user.email, name: user.name, teamId: null, role: null, isAdmin: !!user.is_admin, sessionId: '' }
        await d.audit.record(actor, { teamId: null, resourceType: 'user', resourceId: user.id, action: 'provider_link', metadata: { provider: name } })
        return { kind: 'linked', userId: user.id }
      }

      let userId = existing ? (await findUserById(d.db, existing.user_id))?.id : undefined
      let created = false
      if (userId) {
        const u = (await findUserById(d.db, userId))!
        if (!u.is_active) throw new OAuthFlowError('access_denied', 'account is disabled')
      } else {
        if (!profile.email) throw new OAuthFlowError('email_required', 'the provider did not share a verified email')
        if (await findUserByEmail(d.db, profile.email)) throw new OAuthFlowError('email_taken', 'an account with this email exists; sign in and link the provider instead')
        userId = d.ids.id('usr-', 16)
        const now = d.clock.now()
        const uid = userId
        const team = await d.db.transaction().execute(async (tx) => {
          await insertUser(tx, { id: uid, email: profile.email!, name: profile.name.slice(0, 100), password_hash: null, is_active: 1, is_admin: 0, created_at: now, updated_at: now, deleted_at: null })
          await insertOAuthIdentity(tx, { provider: name, subject: profile.subject, user_id: uid, email: profile.email!, created_at: now })
          return insertTeamWithOwner(tx, d, uid, defaultTeamName(profile.name))
        })
        await d.audit.record({ kind: 'system' }, { teamId: null, resourceType: 'user', resourceId: uid, action: 'signup', metadata: { email: profile.email, provider: name } })
        await d.audit.record({ kind: 'system' }, { teamId: team.id, resourceType: 'team', resourceId: team.id, action: 'create', metadata: { name: team.name, default: true } })
        created = true
      }
      const result = await accounts.openSession(userId, surface, client)
      await d.audit.record(principalOf(result), { teamId: null, resourceType: 'session', resourceId: result.session.id, action: 'login', metadata: { method: name, signup: created, ip: client.ip } })
      return { kind: 'login', result }
    },

    /** Unlinks a provider; refused when it is the account's last way to sign in. */
    async unlink(p: Principal, name: string) {
      requireUser(p)
      const user = await findUserById(d.db, p.userId)
      const links = await listOAuthIdentitiesOfUser(d.db, p.userId)
      if (!user || !links.some((l) => l.provider === name)) throw notFound('provider not connected', 'provider_not_connected')
      if (!user.password_hash && links.length <= 1) throw invalid('cannot disconnect your last login method; add a password first', 'last_login_method')
      await deleteOAuthIdentity(d.db, p.userId, name)
      await d.audit.record(p as UserPrincipal, { teamId: null, resourceType: 'user', resourceId: p.userId, action: 'provider_unlink', metadata: { provider: name } })
    },
  }
}
export type OAuthService = ReturnType<typeof createOAuthService>
