/**
 * Principal resolution shared by every surface, once per request: an API key
 * (X-API-Key, or a Bearer wrn_ token) or else the surface's session cookie.
 * Session requests that change state must prove they come from our app: Wrenn
 * echoes the wrenn_csrf cookie in X-CSRF-Token (double submit, also checked
 * against the session's stored hash); the workspace API's cookie is SameSite=Lax
 * and cross-site origins are refused. Missing or stale credentials leave the
 * principal anonymous; routes and services decide what they require.
 */
import { getCookie } from 'hono/cookie'
import { createMiddleware } from 'hono/factory'
import { forbidden, unauthorized } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import { safeEqual, sha256hex } from '../core/secrets.ts'
import { COOKIE, sessionCookieName } from '../identity/cookies.ts'
import type { IdentityService } from '../identity/service.ts'
import type { SessionSurface } from '../identity/tables.ts'
import { setPrincipal } from './request-context.ts'
import type { AppEnv } from './types.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** The wrn_ key a request carries, if any. Other X-API-Key / Bearer values belong to other schemes and are left alone. */
function presentedKey(h: (name: string) => string | undefined): string | undefined {
  const header = h('x-api-key')
  if (header?.startsWith('wrn_')) return header
  return h('authorization')?.match(/^Bearer\s+(wrn_\S+)$/i)?.[1]
}

/** API keys only (for surfaces without browser sessions). */
export function apiKeyAuth(identity: IdentityService) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const key = presentedKey((n) => c.req.header(n))
    if (key !== undefined) {
      const p = await identity.authenticateApiKey(key)
      if (!p) throw unauthorized('invalid API key', 'invalid_api_key')
      setPrincipal(c, p)
    }
    await next()
  })
}

/** API key or the `surface`'s session cookie, with its CSRF rule on non-GET requests. */
export function accountAuth(identity: IdentityService, surface: SessionSurface) {
  const cookieName = sessionCookieName(surface)
  return createMiddleware<AppEnv>(async (c, next) => {
    const key = presentedKey((n) => c.req.header(n))
    if (key !== undefined) {
      const p = identity.keys.peek(key) ?? (await identity.authenticateApiKey(key))
      if (!p) throw unauthorized('invalid API key', 'invalid_api_key')
      setPrincipal(c, p)
      return next()
    }
    const token = getCookie(c, cookieName)
    if (token) {
      const auth = await identity.authenticateSession(token, surface)
      if (auth) {
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
    }
    await next()
  })
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
