import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { adminBrowser, Browser, newUser, PASSWORD } from './helpers.ts'

let nb: TestNestbox
test.before(async () => {
  nb = await startTestNestbox({ set: { 'identity.rateLimit.signupPerIp': 1000, 'identity.rateLimit.loginPerIp': 1000 } })
})
test.after(() => nb.close())

test('non-admins get 403 on every admin endpoint; admins list users and teams', async () => {
  const u = await newUser(nb, 'plain@example.com')
  const key = await (await u.b.post('/v1/api-keys', { name: 'k' })).json()
  const rows: Array<[string, string, unknown?]> = [
    ['GET', '/v1/admin/users'], ['GET', '/v1/admin/teams'], ['PUT', `/v1/admin/users/${u.user_id}/active`, { active: false }],
    ['PUT', `/v1/admin/users/${u.user_id}/admin`, { admin: true }], ['PUT', `/v1/admin/teams/${u.team_id}/byoc`, { byoc: true }],
    ['DELETE', `/v1/admin/teams/${u.team_id}`], ['GET', '/v1/admin/audit-logs'],
  ]
  for (const [method, path, json] of rows) {
    assert.is((await u.b.fetch(path, { method, json })).status, 403, `${method} ${path} (session)`)
    const viaKey = await fetch(nb.url + path, { method, headers: { 'x-api-key': key.key, 'content-type': 'application/json' }, body: json ? JSON.stringify(json) : undefined })
    assert.is(viaKey.status, 403, `${method} ${path} (key)`)
    assert.is((await fetch(nb.url + path, { method })).status, 401, `${method} ${path} (anonymous)`)
  }
  const a = await adminBrowser(nb)
  const users = await (await a.get('/v1/admin/users')).json()
  const plain = users.find((x: { email: string }) => x.email === 'plain@example.com')
  assert.equal([plain.is_active, plain.is_admin, plain.status, plain.teams_count], [true, false, 'active', 1])
  const teams = await (await a.get('/v1/admin/teams')).json()
  const t = teams.find((x: { id: string }) => x.id === u.team_id)
  assert.equal([t.owner_email, t.member_count, t.is_byoc, t.deleted_at], ['plain@example.com', 1, false, null])
})

test('admin activates a pending signup directly (with its default team)', async () => {
  const anon = new Browser(nb.url)
  assert.is((await anon.post('/v1/auth/signup', { email: 'pending@example.com', password: PASSWORD, name: 'Pen' })).status, 201)
  const a = await adminBrowser(nb)
  const pending = (await (await a.get('/v1/admin/users')).json()).find((x: { email: string }) => x.email === 'pending@example.com')
  assert.is(pending.status, 'pending')
  assert.is((await a.put(`/v1/admin/users/${pending.id}/active`, { active: 'yes' })).status, 400)
  assert.is((await a.put('/v1/admin/users/usr-none/active', { active: true })).status, 404)
  assert.is((await a.put(`/v1/admin/users/${pending.id}/active`, { active: true })).status, 204)
  const login = await anon.post('/v1/auth/login', { email: 'pending@example.com', password: PASSWORD })
  assert.is(login.status, 200)
  assert.is((await login.json()).role, 'owner')
})

test('deactivation ends sessions and keys; reactivation restores login', async () => {
  const u = await newUser(nb, 'deact@example.com')
  const key = await (await u.b.post('/v1/api-keys', { name: 'k' })).json()
  const a = await adminBrowser(nb)
  assert.is((await a.put(`/v1/admin/users/${u.user_id}/active`, { active: false })).status, 204)
  assert.is((await u.b.get('/v1/me')).status, 401)
  assert.is((await fetch(nb.url + '/v1/me', { headers: { 'x-api-key': key.key } })).status, 401)
  const login = await new Browser(nb.url).post('/v1/auth/login', { email: 'deact@example.com', password: PASSWORD })
  assert.is(login.status, 403)
  assert.is((await login.json()).error.code, 'account_disabled')
  assert.is((await a.put(`/v1/admin/users/${u.user_id}/active`, { active: true })).status, 204)
  assert.is((await new Browser(nb.url).post('/v1/auth/login', { email: 'deact@example.com', password: PASSWORD })).status, 200)
  assert.is((await fetch(nb.url + '/v1/me', { headers: { 'x-api-key': key.key } })).status, 200)
})

test('grant and revoke admin; the last admin stays', async () => {
  const u = await newUser(nb, 'promoted@example.com')
  const a = await adminBrowser(nb)
  const adminId = (await (await a.get('/v1/me')).json()).id
  assert.is((await a.put(`/v1/admin/users/${adminId}/admin`, { admin: false })).status, 400, 'last admin')
  assert.is((await a.put(`/v1/admin/users/${adminId}/active`, { active: false })).status, 400, 'not yourself')
  assert.is((await u.b.get('/v1/admin/users')).status, 403)
  assert.is((await a.put(`/v1/admin/users/${u.user_id}/admin`, { admin: true })).status, 204)
  assert.is((await u.b.get('/v1/admin/users')).status, 200, 'takes effect on the next request')
  assert.is((await (await u.b.get('/v1/me')).json()).is_admin, true)
  assert.is((await u.b.put(`/v1/admin/users/${adminId}/admin`, { admin: false })).status, 204, 'not the last admin any more')
  assert.is((await a.get('/v1/admin/users')).status, 403)
})

test('BYOC flag and admin team deletion', async () => {
  const u = await newUser(nb, 'byoc@example.com')
  // The bootstrap admin was revoked by the previous test; the promoted user is the admin now.
  const admin = new Browser(nb.url)
  assert.is((await admin.post('/v1/auth/login', { email: 'promoted@example.com', password: PASSWORD })).status, 200)
  assert.is((await admin.put(`/v1/admin/teams/${u.team_id}/byoc`, { byoc: true })).status, 204)
  const t = (await (await admin.get('/v1/admin/teams')).json()).find((x: { id: string }) => x.id === u.team_id)
  assert.is(t.is_byoc, true)
  assert.is((await admin.put('/v1/admin/teams/team-none/byoc', { byoc: true })).status, 404)
  assert.is((await admin.del(`/v1/admin/teams/${u.team_id}`)).status, 204)
  assert.is((await admin.del(`/v1/admin/teams/${u.team_id}`)).status, 404)
  assert.is((await (await u.b.get('/v1/me')).json()).team_id, null)
  assert.is((await u.b.get('/v1/teams').then((r) => r.json())).length, 0)
})

test.run()
