/**
 * OAuth/OIDC redirects for both surfaces: Wrenn's /auth/oauth/{provider}
 * (seed 003; providers "github" and "oidc") and the workspace API's
 * /api/auth/oidc/{github|generic} (seed 001). Callbacks always answer with a
 * redirect to the web app, carrying ?error=<code> on failure.
 */
import type { Context } from 'hono'
import { Hono } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { isAppError } from '../../core/errors.ts'
import type { Services } from '../../http/services.ts'
import type { AppEnv } from '../../http/types.ts'
import { clientInfo, COOKIE, isHttps, setSessionCookies } from '../cookies.ts'
import { OAuthFlowError } from '../oauth/oauth.ts'
import type { SessionSurface } from '../tables.ts'

type Flow = {
  surface: SessionSurface
  /** Wire name in the path → provider name in the service. */
  provider: (wire: string) => string
  callbackPath: (wire: string) => string
  cookiePath: string
  done: (appUrl: string, wire: string, error?: string) => string
}

const WRENN: Flow = {
  surface: 'wrenn',
  provider: (w) => w,
  callbackPath: (w) => `/auth/oauth/${w}/callback`,
  cookiePath: '/auth/oauth',
  // compat(wrenn 003): {OAUTH_REDIRECT_URL}/auth/{provider}/callback[?error=...]
  done: (app, w, error) => `${app}/auth/${w}/callback${error ? `?error=${encodeURIComponent(error)}` : ''}`,
}

const WORKSPACE: Flow = {
  surface: 'workspace',
  provider: (w) => (w === 'generic' ? 'oidc' : w),
  callbackPath: (w) => `/api/auth/oidc/${w}/callback`,
  cookiePath: '/api/auth/oidc',
  done: (app, _w, error) => `${app}/${error ? `?error=${encodeURIComponent(error)}` : ''}`,
}

function flowRoutes(s: Services, f: Flow) {
  const { oauth } = s.identity
  const r = new Hono<AppEnv>()

  r.get('/:provider', async (c) => {
    const wire = c.req.param('provider')
    const flow = await oauth.begin(f.provider(wire), f.surface, f.callbackPath(wire))
    const secure = isHttps(c, s)
    setCookie(c, COOKIE.oauthState, flow.state, { path: f.cookiePath, httpOnly: true, sameSite: 'Lax', secure, maxAge: 600 })
    deleteCookie(c, COOKIE.oauthLink, { path: f.cookiePath, secure })
    return c.redirect(flow.url, 302)
  })

  r.get('/:provider/callback', async (c) => {
    const wire = c.req.param('provider')
    const info = clientInfo(c, s)
    const query = new URL(c.req.url).searchParams
    const stateCookie = getCookie(c, COOKIE.oauthState)
    clearFlowCookies(c, f, isHttps(c, s))
    try {
      const out = await oauth.complete(f.provider(wire), f.surface, query, stateCookie, info)
      if (out.kind === 'login') setSessionCookies(c, s, f.surface, out.result.session)
      return c.redirect(f.done(s.identity.links.app, wire), 302)
    } catch (err) {
      if (isAppError(err) && err.code === 'provider_not_found') throw err
      const code = err instanceof OAuthFlowError ? err.code : 'internal_error'
      if (!(err instanceof OAuthFlowError)) c.var.log.error('oauth callback failed', { err })
      return c.redirect(f.done(s.identity.links.app, wire, code), 302)
    }
  })
  return r
}

function clearFlowCookies(c: Context<AppEnv>, f: Flow, secure: boolean) {
  deleteCookie(c, COOKIE.oauthState, { path: f.cookiePath, secure })
  deleteCookie(c, COOKIE.oauthLink, { path: f.cookiePath, secure })
}

/** Mounted at /auth/oauth. */
export const oauthRoutesWrenn = (s: Services) => flowRoutes(s, WRENN)
/** Mounted at /api/auth/oidc. */
export const oauthRoutesWorkspace = (s: Services) => flowRoutes(s, WORKSPACE)
