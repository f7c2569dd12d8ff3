/** Wrenn surface (seed 003): /v1/auth/* and /v1/me* — accounts, sessions, linked providers. */
import { Hono } from 'hono'
import { setCookie } from 'hono/cookie'
import { iso } from '../../core/ids.ts'
import type { Services } from '../../http/services.ts'
import type { AppEnv } from '../../http/types.ts'
import { requireAccount, requireUser } from '../access.ts'
import { clearSessionCookies, clientInfo, COOKIE, isHttps, logoutRoute, setSessionCookies } from '../cookies.ts'
import { readJson, toSessionResponse } from '../wire.ts'

export function accountRoutesV1(s: Services) {
  const { accounts, sessions, oauth } = s.identity
  const r = new Hono<AppEnv>()

  r.post('/auth/signup', async (c) => {
    const b = await readJson(c)
    await accounts.signup({ email: b.email, password: b.password, name: b.name }, clientInfo(c, s))
    return c.json({ message: 'Account created. Check your email for an activation link (valid 30 minutes).' }, 201)
  })

  r.post('/auth/activate', async (c) => {
    const res = await accounts.activate(await readJson(c), 'wrenn', clientInfo(c, s))
    setSessionCookies(c, s, 'wrenn', res.session)
    return c.json(toSessionResponse(res))
  })

  r.post('/auth/login', async (c) => {
    const b = await readJson(c)
    const res = await accounts.login({ email: b.email, password: b.password }, 'wrenn', clientInfo(c, s))
    setSessionCookies(c, s, 'wrenn', res.session)
    return c.json(toSessionResponse(res))
  })

  r.post('/auth/logout', logoutRoute(s, 'wrenn', (p) => sessions.logout(p)))
  r.post('/auth/logout-all', logoutRoute(s, 'wrenn', (p) => sessions.logoutAll(p)))

  r.post('/auth/switch-team', async (c) => {
    const p = c.get('principal')
    requireUser(p)
    const b = await readJson(c)
    const issued = await sessions.switchTeam(p, typeof b.team_id === 'string' ? b.team_id : '', clientInfo(c, s))
    setSessionCookies(c, s, 'wrenn', issued)
    return c.json({ user_id: p.userId, team_id: issued.teamId, email: p.email, name: p.name, role: issued.role, is_admin: p.isAdmin })
  })

  // Answered synchronously from the profile cache when it can (see http/surface.ts).
  r.get('/me', (c): Response | Promise<Response> => {
    const p = c.get('principal')
    const me = accounts.cachedMe(p)
    return me ? c.json(meResponse(me)) : accounts.me(p).then((fetched) => c.json(meResponse(fetched)))
  })

  r.patch('/me', async (c) => {
    await accounts.updateName(c.get('principal'), await readJson(c))
    return c.body(null, 204)
  })

  r.delete('/me', async (c) => {
    await accounts.deleteAccount(c.get('principal'), await readJson(c))
    clearSessionCookies(c, s, 'wrenn')
    return c.body(null, 204)
  })

  r.post('/me/password', async (c) => {
    await accounts.changePassword(c.get('principal'), await readJson(c))
    clearSessionCookies(c, s, 'wrenn') // compat(wrenn 003): a password change logs out everywhere
    return c.body(null, 204)
  })

  r.post('/me/password/reset', async (c) => {
    await accounts.requestReset(await readJson(c), clientInfo(c, s))
    return c.body(null, 204)
  })

  r.post('/me/password/reset/confirm', async (c) => {
    await accounts.confirmReset(await readJson(c))
    return c.body(null, 204)
  })

  r.get('/me/sessions', async (c) => {
    const p = c.get('principal')
    requireUser(p)
    const list = await sessions.list(p)
    return c.json({
      sessions: list.map((x) => ({ id: x.id, user_agent: x.user_agent, ip_address: x.ip_address, created_at: iso(x.created_at), last_seen_at: iso(x.last_seen_at), expires_at: iso(x.expires_at), current: x.current })),
    })
  })

  r.delete('/me/sessions/:id', async (c) => {
    const p = c.get('principal')
    requireUser(p)
    await sessions.revoke(p, c.req.param('id'))
    if (c.req.param('id') === p.sessionId) clearSessionCookies(c, s, 'wrenn')
    return c.body(null, 204)
  })

  r.get('/me/providers/:provider/connect', async (c) => {
    const p = c.get('principal')
    requireAccount(p)
    const name = c.req.param('provider')
    const flow = await oauth.begin(name, 'wrenn', `/auth/oauth/${name}/callback`, p)
    const secure = isHttps(c, s)
    setCookie(c, COOKIE.oauthState, flow.state, { path: '/auth/oauth', httpOnly: true, sameSite: 'Lax', secure, maxAge: 600 })
    // compat(wrenn 003): the link cookie is only a marker; which account to link is kept server-side with the state.
    setCookie(c, COOKIE.oauthLink, '1', { path: '/auth/oauth', httpOnly: true, sameSite: 'Lax', secure, maxAge: 600 })
    return c.json({ auth_url: flow.url })
  })

  r.delete('/me/providers/:provider', async (c) => {
    await oauth.unlink(c.get('principal'), c.req.param('provider'))
    return c.body(null, 204)
  })

  return r
}

type Me = Awaited<ReturnType<Services['identity']['accounts']['me']>>
const meResponse = (me: Me) => ({ id: me.id, name: me.name, email: me.email, has_password: me.hasPassword, is_admin: me.isAdmin, team_id: me.teamId, role: me.role, providers: me.providers })
