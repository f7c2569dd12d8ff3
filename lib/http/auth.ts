/**
 * Principal resolution shared by every surface, once per request: an API key
 * (X-API-Key, or a Bearer wrn_ token) or else the surface's session cookie.
 * Session requests that change state must prove they come from our app: Wrenn
 * echoes the wrenn_csrf cookie in X-CSRF-Token (double submit, also checked
 * against the session's stored hash); the workspace API's cookie is SameSite=Lax
 * and cross-site origins are refused. Missing or stale credentials leave the
 * principal anonymous; routes and services decide what they require.
 */
import type { Context } from 'hono'
import { getCookie } from 'hono/cookie'
import { forbidden, unauthorized } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import { safeEqual, sha256hex } from '../core/secrets.ts'
import { COOKIE, sessionCookieName } from '../identity/cookies.ts'
import type { IdentityService } from '../identity/service.ts'
import type { SessionSurface } from '../identity/tables.ts'
import { setPrincipal } from './request-context.ts'
import type { Authenticator } from './surface.ts'
import type { AppEnv } from './types.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** The wrn_ key a request carries, if any. Other X-API-Key / Bearer values belong to other schemes and are left alone. */
function presentedKey(c: Context<AppEnv>): string | undefined {
  // Node's parsed headers when there are any (every real request): reading through c.req would wrap them first.
  const h = c.env?.incoming?.headers
  const header = h ? h['x-api-key'] : c.req.header('x-api-key')
  if (typeof header === 'string' && header.startsWith('wrn_')) return header
  const authorization = h ? h.authorization : c.req.header('authorization')
  return authorization?.match(/^Bearer\s+(wrn_\S+)$/i)?.[1]
}

/** API key or the `surface`'s session cookie, with its CSRF rule on non-GET requests. Synchronous for a cached key. */
export function accountAuth(identity: IdentityService, surface: SessionSurface): Authenticator {
  const cookieName = sessionCookieName(surface)
  const keyAuth = async (c: Context<AppEnv>, key: string) => {
    const p = await identity.authenticateApiKey(key)
    if (!p) throw unauthorized('invalid API key', 'invalid_api_key')
    setPrincipal(c, p)
  }
  const sessionAuth = async (c: Context<AppEnv>, token: string) => {
    const auth = await identity.authenticateSession(token, surface)
    if (!auth) return
    if (!SAFE_METHODS.has(c.req.method)) {
      if (surface === 'wrenn') {
        const sent = c.req.header('x-csrf-token') ?? ''
        const cookie = getCookie(c, COOKIE.wrennCsrf) ?? ''
        if (!sent || !safeEqual(sent, cookie) || !safeEqual(sha256hex(sent), auth.csrfHash)) throw forbidden('missing or invalid X-CSRF-Token', 'csrf_failed')
      } else if (crossSite(c.req.header('origin'), c.req.header('sec-fetch-site'), c.req.header('host'))) {
        throw forbidden('cross-site request refused', 'csrf_failed')
      }
    }
    setPrincipal(c, auth.principal)
  }
  return (c) => {
    const key = presentedKey(c)
    if (key !== undefined) {
      const cached = identity.keys.peek(key)
      return cached ? setPrincipal(c, cached) : keyAuth(c, key)
    }
    const token = getCookie(c, cookieName)
    if (token) return sessionAuth(c, token)
  }
}

function crossSite(origin: string | undefined, fetchSite: string | undefined, host: string | undefined): boolean {
  if (fetchSite === 'cross-site') return true
  if (!origin) return false
  try {
    return new URL(origin).host !== host
  } catch {
    return true
  }
}

/** Throws 401 unless the request carries a user or API-key principal. */
export function requireAccount(p: Principal): asserts p is Extract<Principal, { kind: 'user' | 'api_key' }> {
  if (p.kind !== 'user' && p.kind !== 'api_key') throw unauthorized()
}
