/**
 * Workspace API surface (seed 001) of identity: /api/auth/* and /api/workspaces*.
 * A workspace is a team; its roles owner / maintainer / developer / guest are the
 * shared roles owner / admin / member / viewer.
 */
import { Hono } from 'hono'
import { invalid } from '../../core/errors.ts'
import { iso } from '../../core/ids.ts'
import type { Role } from '../../core/principal.ts'
import type { Services } from '../../http/services.ts'
import type { AppEnv } from '../../http/types.ts'
import { requireAccount, WORKSPACE_POLICY as WP } from '../access.ts'
import { clientInfo, logoutRoute, setSessionCookies } from '../cookies.ts'
import { oauthRoutesWorkspace } from './routes.oauth.ts'
import { readJson } from '../wire.ts'

const TO_WIRE: Record<Role, string> = { owner: 'owner', admin: 'maintainer', member: 'developer', viewer: 'guest' }
const FROM_WIRE: Record<string, Role> = { owner: 'owner', maintainer: 'admin', developer: 'member', guest: 'viewer' }

const wireRole = (r: Role | null) => (r ? TO_WIRE[r] : null)
function parseWireRole(v: unknown): Role | undefined {
  if (v === undefined) return undefined
  const role = typeof v === 'string' ? FROM_WIRE[v] : undefined
  if (!role || role === 'owner') throw invalid('role must be one of maintainer, developer, guest', 'invalid_role')
  return role
}

const toUser = (u: { id: string; email: string; name: string; isAdmin: boolean }) => ({ id: u.id, email: u.email, username: u.email, name: u.name, is_admin: u.isAdmin })
const toWorkspace = (t: { id: string; name: string; slug: string; created_at: number; role: Role | null }) => ({ id: t.id, name: t.name, slug: t.slug, role: wireRole(t.role), created_at: iso(t.created_at) })
const toMember = (m: { user_id: string; email: string; name: string; role: Role; created_at: number }) => ({ user_id: m.user_id, email: m.email, name: m.name, role: wireRole(m.role), joined_at: iso(m.created_at) })

/** Mounted at /api/auth. */
export function workspaceAuthRoutes(s: Services) {
  const { accounts, sessions } = s.identity
  const r = new Hono<AppEnv>()

  r.post('/register', async (c) => {
    const b = await readJson(c)
    await accounts.signup({ email: b.email ?? b.username, password: b.password, name: b.name ?? '' }, clientInfo(c, s))
    return c.json({ message: 'Account created. Check your email for an activation link (valid 30 minutes).' }, 201)
  })

  r.post('/login', async (c) => {
    const b = await readJson(c)
    const res = await accounts.login({ email: b.email ?? b.username, password: b.password }, 'workspace', clientInfo(c, s))
    setSessionCookies(c, s, 'workspace', res.session)
    return c.json({ user: toUser(res.user) })
  })

  r.post('/logout', logoutRoute(s, 'workspace', (p) => sessions.logout(p)))

  r.get('/me', async (c) => {
    const me = await accounts.me(c.get('principal'))
    return c.json({ id: me.id, email: me.email, username: me.email, name: me.name, is_admin: me.isAdmin, has_password: me.hasPassword, providers: me.providers })
  })

  r.route('/oidc', oauthRoutesWorkspace(s))
  return r
}

/** Mounted at /api/workspaces. */
export function workspaceRoutes(s: Services) {
  const { teams } = s.identity
  const r = new Hono<AppEnv>()

  r.get('/', async (c) => c.json((await teams.list(c.get('principal'))).map(toWorkspace)))
  r.post('/', async (c) => {
    requireAccount(c.get('principal'))
    return c.json(toWorkspace(await teams.create(c.get('principal'), await readJson(c))), 201)
  })
  r.get('/:id', async (c) => {
    const t = await teams.get(c.get('principal'), c.req.param('id'), WP)
    return c.json({ ...toWorkspace({ ...t.team, role: t.role }), members: t.members.map(toMember) })
  })
  r.delete('/:id', async (c) => {
    await teams.remove(c.get('principal'), c.req.param('id'), WP)
    return c.body(null, 204)
  })

  r.get('/:id/members', async (c) => c.json((await teams.members(c.get('principal'), c.req.param('id'), WP)).map(toMember)))
  r.post('/:id/members', async (c) => {
    const b = await readJson(c)
    const m = await teams.addMember(c.get('principal'), c.req.param('id'), { email: b.email, userId: b.user_id, role: parseWireRole(b.role) ?? 'member' }, WP)
    return c.json(toMember(m), 201)
  })
  r.put('/:id/members/:userId', async (c) => {
    const b = await readJson(c)
    await teams.setMemberRole(c.get('principal'), c.req.param('id'), c.req.param('userId'), { role: parseWireRole(b.role ?? '') }, WP)
    return c.body(null, 204)
  })
  r.delete('/:id/members/:userId', async (c) => {
    await teams.removeMember(c.get('principal'), c.req.param('id'), c.req.param('userId'), WP)
    return c.body(null, 204)
  })
  return r
}
