/**
 * Cookie and client facts shared by the identity routes and the auth middleware.
 * Wire names: compat(wrenn 003) wrenn_sid + wrenn_csrf; the workspace API (001)
 * has its own session cookie over the same session store.
 */
import type { Context } from 'hono'
import { deleteCookie, setCookie } from 'hono/cookie'
import type { Config } from '../core/config/index.ts'
import type { SiteUrl } from '../core/site-url.ts'
import type { AppEnv } from '../http/types.ts'
import { requireUser } from './access.ts'
import type { ClientInfo } from './deps.ts'
import type { IssuedSession, UserPrincipal } from './sessions.ts'
import type { SessionSurface } from './tables.ts'

export const COOKIE = {
  wrennSid: 'wrenn_sid',
  wrennCsrf: 'wrenn_csrf',
  workspaceSid: 'nestbox_session',
  oauthState: 'wrenn_oauth_state',
  oauthLink: 'wrenn_oauth_link',
} as const

export const sessionCookieName = (surface: SessionSurface) => (surface === 'wrenn' ? COOKIE.wrennSid : COOKIE.workspaceSid)

type Cfg = { config: Pick<Config, 'identity'>; site: SiteUrl }

/** Cookies get Secure when the public URL is https, or the client reached us over https (directly or via a proxy). */
export function isHttps(c: Context<AppEnv>, cfg: Cfg): boolean {
  return cfg.site.https || new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https'
}

export function clientIp(c: Context<AppEnv>, cfg: Cfg): string {
  if (cfg.config.identity.rateLimit.trustForwardedFor) {
    const fwd = c.req.header('x-forwarded-for')?.split(',')[0]?.trim()
    if (fwd) return fwd
  }
  return c.env?.incoming?.socket?.remoteAddress ?? 'unknown'
}

/** Who is calling, for rate limits and the session list. Links never come from the request (see core/site-url.ts). */
export function clientInfo(c: Context<AppEnv>, cfg: Cfg): ClientInfo {
  return { ip: clientIp(c, cfg), userAgent: c.req.header('user-agent') ?? '' }
}

/** Sets the session cookie (and, for Wrenn, the readable CSRF cookie) until the session's absolute end. */
export function setSessionCookies(c: Context<AppEnv>, cfg: Cfg, surface: SessionSurface, s: IssuedSession) {
  const secure = isHttps(c, cfg)
  const maxAge = Math.max(1, Math.floor((s.expiresAt - Date.now()) / 1000))
  if (surface === 'wrenn') {
    setCookie(c, COOKIE.wrennSid, s.token, { path: '/', httpOnly: true, sameSite: 'Strict', secure, maxAge })
    setCookie(c, COOKIE.wrennCsrf, s.csrf, { path: '/', httpOnly: false, sameSite: 'Strict', secure, maxAge })
  } else {
    // Lax so the session survives the top-level redirect back from an OAuth provider; non-GET requests are origin-checked.
    setCookie(c, COOKIE.workspaceSid, s.token, { path: '/', httpOnly: true, sameSite: 'Lax', secure, maxAge })
  }
}

export function clearSessionCookies(c: Context<AppEnv>, cfg: Cfg, surface: SessionSurface) {
  const secure = isHttps(c, cfg)
  if (surface === 'wrenn') {
    deleteCookie(c, COOKIE.wrennSid, { path: '/', secure })
    deleteCookie(c, COOKIE.wrennCsrf, { path: '/', secure })
  } else deleteCookie(c, COOKIE.workspaceSid, { path: '/', secure })
}

/** A logout route: ends the caller's session(s) with `end`, clears the surface's cookies, answers 204. */
export const logoutRoute = (cfg: Cfg, surface: SessionSurface, end: (p: UserPrincipal) => Promise<void>) => async (c: Context<AppEnv>) => {
  const p = c.get('principal')
  requireUser(p)
  await end(p)
  clearSessionCookies(c, cfg, surface)
  return c.body(null, 204)
}
