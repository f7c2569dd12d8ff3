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
import { parse as parseCookie } from 'hono/utils/cookie'
import type { IncomingHttpHeaders } from 'node:http'
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

/** The wrn_ key in these headers, if any. Other X-API-Key / Bearer values belong to other schemes and are left alone. */
function keyIn(apiKey: string | string[] | undefined, authorization: string | undefined): string | undefined {
  if (typeof apiKey === 'string' && apiKey.startsWith('wrn_')) return apiKey
  return authorization?.match(/^Bearer\s+(wrn_\S+)$/i)?.[1]
}

/** The wrn_ key a request carries, if any. */
function presentedKey(c: Context<AppEnv>): string | undefined {
  // Node's parsed headers when there are any (every real request): reading through c.req would wrap them first.
  const h = c.env?.incoming?.headers
  return h ? keyIn(h['x-api-key'], h.authorization) : keyIn(c.req.header('x-api-key'), c.req.header('authorization'))
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

/**
 * The principal of a GET served below Hono (the event streams), from Node's headers,
 * by the same credentials as accountAuth: a cached API key at once, else the key or
 * the session cookie looked up. Null when there are none or they are not valid: the
 * request then goes to Hono, whose route answers it in the surface's envelope.
 */
export function headerPrincipal(identity: IdentityService, surface: SessionSurface): (h: IncomingHttpHeaders) => Principal | null | Promise<Principal | null> {
  const cookieName = sessionCookieName(surface)
  return (h) => {
    const key = keyIn(h['x-api-key'], h.authorization)
    if (key !== undefined) return identity.keys.peek(key) ?? identity.authenticateApiKey(key)
    const token = h.cookie ? parseCookie(h.cookie, cookieName)[cookieName] : undefined
    return token ? identity.authenticateSession(token, surface).then((a) => a?.principal ?? null) : null
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
