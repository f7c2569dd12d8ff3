import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { Browser, newUser, PASSWORD, tokenFromMail } from './helpers.ts'

let nb: TestNestbox
test.before(async () => {
  nb = await startTestNestbox({ set: { 'identity.rateLimit.signupPerIp': 1000, 'identity.rateLimit.loginPerIp': 1000 } })
})
test.after(() => nb.close())

async function wsLogin(email: string, password = PASSWORD) {
  const b = new Browser(nb.url)
  const r = await b.post('/api/auth/login', { username: email, password })
  assert.is(r.status, 200, `login ${email}`)
  return { b, user: (await r.json()).user }
}

test('register / login / me / logout with the workspace cookie, errors in the plain envelope', async () => {
  const b = new Browser(nb.url)
  const reg = await b.post('/api/auth/register', { email: 'ws@example.com', password: PASSWORD, name: 'Ws' })
  assert.is(reg.status, 201)
  const bad = await b.post('/api/auth/register', { email: 'ws@example.com', password: PASSWORD })
  assert.is(bad.status, 409)
  assert.equal(await bad.json(), { error: 'email already registered or signup cooldown active', code: 'email_taken' })
  assert.is((await b.post('/v1/auth/activate', { token: tokenFromMail(nb.dataDir, 'ws@example.com', 'activate') })).status, 200)
  const wrong = await new Browser(nb.url).post('/api/auth/login', { username: 'ws@example.com', password: 'wrong password' })
  assert.is(wrong.status, 401)
  assert.is((await wrong.json()).code, 'invalid_credentials')
  const { b: s, user } = await wsLogin('ws@example.com')
  assert.equal([user.email, user.name, user.is_admin], ['ws@example.com', 'Ws', false])
  assert.ok(s.jar.has('nestbox_session'))
  assert.not.ok(s.jar.has('wrenn_csrf'))
  const me = await (await s.get('/api/auth/me')).json()
  assert.is(me.id, user.id)
  assert.is((await fetch(nb.url + '/api/auth/me')).status, 401)
  // Cross-site state changes are refused for cookie sessions.
  const cross = await s.post('/api/workspaces', { name: 'Evil' }, { headers: { origin: 'https://evil.example' } })
  assert.is(cross.status, 403)
  assert.is((await s.post('/api/workspaces', { name: 'Evil' }, { headers: { 'sec-fetch-site': 'cross-site' } })).status, 403)
  assert.is((await s.post('/api/workspaces', { name: 'Fine' }, { headers: { origin: nb.url } })).status, 201)
  assert.is((await s.post('/api/auth/logout')).status, 204)
  assert.is((await s.get('/api/auth/me')).status, 401)
})

test('workspaces: create, list, get, delete; roles map owner/maintainer/developer/guest', async () => {
  const owner = await newUser(nb, 'wowner@example.com')
  const maint = await newUser(nb, 'wmaint@example.com')
  const dev = await newUser(nb, 'wdev@example.com')
  const guest = await newUser(nb, 'wguest@example.com')
  const { b: o } = await wsLogin('wowner@example.com')
  const w = await (await o.post('/api/workspaces', { name: 'Shared' })).json()
  assert.equal([w.name, w.role], ['Shared', 'owner'])
  const add = (b: Browser, email: string, role?: string) => b.post(`/api/workspaces/${w.id}/members`, { email, ...(role ? { role } : {}) })
  const m = await add(o, 'wmaint@example.com', 'maintainer')
  assert.is(m.status, 201)
  assert.is((await m.json()).role, 'maintainer')
  assert.is((await add(o, 'wguest@example.com', 'guest')).status, 201)
  assert.is((await add(o, 'x@example.com', 'owner')).status, 400, 'owner cannot be assigned')
  assert.is((await add(o, 'wdev@example.com', 'boss')).status, 400)
  const { b: mb } = await wsLogin('wmaint@example.com')
  assert.is((await add(mb, 'wdev@example.com')).status, 201, 'maintainers add members (default developer)')
  // The same membership is visible on the Wrenn surface with the shared roles.
  assert.is((await maint.b.post('/v1/auth/switch-team', { team_id: w.id })).status, 200)
  const wrennMembers = await (await maint.b.get(`/v1/teams/${w.id}/members`)).json()
  assert.equal(wrennMembers.map((x: { role: string }) => x.role), ['owner', 'admin', 'member', 'viewer'])
  const list = await (await mb.get(`/api/workspaces/${w.id}/members`)).json()
  assert.equal(list.map((x: { email: string; role: string }) => `${x.role}:${x.email}`), ['owner:wowner@example.com', 'maintainer:wmaint@example.com', 'developer:wdev@example.com', 'guest:wguest@example.com'])
  // Only the owner changes roles or removes members (seed 001).
  assert.is((await mb.put(`/api/workspaces/${w.id}/members/${dev.user_id}`, { role: 'guest' })).status, 403)
  assert.is((await mb.del(`/api/workspaces/${w.id}/members/${dev.user_id}`)).status, 403)
  assert.is((await o.put(`/api/workspaces/${w.id}/members/${dev.user_id}`, { role: 'guest' })).status, 204)
  assert.is((await o.put(`/api/workspaces/${w.id}/members/${owner.user_id}`, { role: 'guest' })).status, 403)
  assert.is((await o.del(`/api/workspaces/${w.id}/members/${guest.user_id}`)).status, 204)
  const detail = await (await o.get(`/api/workspaces/${w.id}`)).json()
  assert.equal([detail.name, detail.role, detail.members.length], ['Shared', 'owner', 3])
  const mine = await (await mb.get('/api/workspaces')).json()
  assert.ok(mine.some((x: { id: string; role: string }) => x.id === w.id && x.role === 'maintainer'))
  assert.is((await mb.del(`/api/workspaces/${w.id}`)).status, 403)
  assert.is((await o.del(`/api/workspaces/${w.id}`)).status, 204)
  assert.is((await o.get(`/api/workspaces/${w.id}`)).status, 404)
})

test('a workspace of which the caller is not a member is 404 (existence does not leak)', async () => {
  const a = await newUser(nb, 'wa@example.com')
  await newUser(nb, 'wb@example.com')
  const { b } = await wsLogin('wb@example.com')
  const r = await b.get(`/api/workspaces/${a.team_id}`)
  assert.is(r.status, 404)
  assert.is((await b.get('/api/workspaces/team-doesnotexist')).status, 404)
  // API keys work on the workspace API too, limited to their team.
  const key = await (await a.b.post('/v1/api-keys', { name: 'ws' })).json()
  const own = await fetch(`${nb.url}/api/workspaces/${a.team_id}`, { headers: { 'x-api-key': key.key } })
  assert.is(own.status, 200)
  const list = await (await fetch(`${nb.url}/api/workspaces`, { headers: { 'x-api-key': key.key } })).json()
  assert.equal(list.map((x: { id: string }) => x.id), [a.team_id])
})

test.run()
