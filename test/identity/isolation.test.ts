/**
 * Scenario table: every team-scoped identity endpoint, called on team A by a
 * user or key of team B, and by A's viewer. Other teams get the seed's status
 * (Wrenn 403 for a team that is not the caller's, 404 for another team's key;
 * workspace API 404), a viewer changes nothing, and A's data is unchanged after.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { Browser, newUser, PASSWORD } from './helpers.ts'

let nb: TestNestbox
test.before(async () => {
  nb = await startTestNestbox({ set: { 'identity.rateLimit.signupPerIp': 1000, 'identity.rateLimit.loginPerIp': 1000 } })
})
test.after(() => nb.close())

type Caller = { name: string; call: (method: string, path: string, json?: unknown) => Promise<Response> }
const viaBrowser = (name: string, b: Browser): Caller => ({ name, call: (method, path, json) => b.fetch(path, { method, json }) })
const viaKey = (name: string, key: string): Caller => ({
  name,
  call: (method, path, json) => fetch(nb.url + path, { method, headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: json === undefined ? undefined : JSON.stringify(json) }),
})

test('team-scoped endpoints refuse other teams and read-only viewers', async () => {
  const owner = await newUser(nb, 'iso-owner@example.com')
  const member = await newUser(nb, 'iso-member@example.com')
  const viewer = await newUser(nb, 'iso-viewer@example.com')
  const outsider = await newUser(nb, 'iso-outsider@example.com')
  await newUser(nb, 'iso-extra@example.com')
  const A = owner.team_id
  await owner.b.post(`/v1/teams/${A}/members`, { email: 'iso-member@example.com' })
  const keyA = await (await owner.b.post('/v1/api-keys', { name: 'A key' })).json()
  // Viewers (guests) are given through the workspace API; here with A's owner key.
  assert.is((await viaKey('A key', keyA.key).call('POST', `/api/workspaces/${A}/members`, { email: 'iso-viewer@example.com', role: 'guest' })).status, 201)
  assert.is((await viewer.b.post('/v1/auth/switch-team', { team_id: A })).status, 200)
  const keyB = await (await outsider.b.post('/v1/api-keys', { name: 'B key' })).json()
  const wsOutsider = new Browser(nb.url)
  assert.is((await wsOutsider.post('/api/auth/login', { username: 'iso-outsider@example.com', password: PASSWORD })).status, 200)
  const wsViewer = new Browser(nb.url)
  assert.is((await wsViewer.post('/api/auth/login', { username: 'iso-viewer@example.com', password: PASSWORD })).status, 200)

  const M = member.user_id
  // [method, path, body, status for another team, status for A's viewer]
  const wrenn: Array<[string, string, unknown, number, number]> = [
    ['GET', `/v1/teams/${A}`, undefined, 403, 200],
    ['PATCH', `/v1/teams/${A}`, { name: 'Hijacked' }, 403, 403],
    ['DELETE', `/v1/teams/${A}`, undefined, 403, 403],
    ['GET', `/v1/teams/${A}/members`, undefined, 403, 200],
    ['POST', `/v1/teams/${A}/members`, { email: 'iso-extra@example.com' }, 403, 403],
    ['PATCH', `/v1/teams/${A}/members/${M}`, { role: 'admin' }, 403, 403],
    ['DELETE', `/v1/teams/${A}/members/${M}`, undefined, 403, 403],
    ['POST', `/v1/teams/${A}/leave`, undefined, 403, -1], // a viewer may leave; not a change to the team's data
    ['DELETE', `/v1/api-keys/${keyA.id}`, undefined, 404, 403],
    ['POST', '/v1/api-keys', { name: 'viewer key' }, -1, 403],
  ]
  const workspace: Array<[string, string, unknown, number, number]> = [
    ['GET', `/api/workspaces/${A}`, undefined, 404, 200],
    ['DELETE', `/api/workspaces/${A}`, undefined, 404, 403],
    ['GET', `/api/workspaces/${A}/members`, undefined, 404, 200],
    ['POST', `/api/workspaces/${A}/members`, { email: 'iso-extra@example.com', role: 'developer' }, 404, 403],
    ['PUT', `/api/workspaces/${A}/members/${M}`, { role: 'maintainer' }, 404, 403],
    ['DELETE', `/api/workspaces/${A}/members/${M}`, undefined, 404, 403],
  ]
  const others = [viaBrowser('B session', outsider.b), viaKey('B key', keyB.key)]
  const failures: string[] = []
  const check = async (c: Caller, method: string, path: string, body: unknown, want: number) => {
    if (want < 0) return
    const r = await c.call(method, path, body)
    if (r.status !== want) failures.push(`${c.name} ${method} ${path}: ${r.status}, want ${want}`)
  }
  for (const [m, p, body, other, view] of wrenn) {
    for (const c of others) await check(c, m, p, body, other)
    await check(viaBrowser('A viewer', viewer.b), m, p, body, view)
  }
  for (const [m, p, body, other, view] of workspace) {
    for (const c of [viaBrowser('B workspace session', wsOutsider), viaKey('B key', keyB.key)]) await check(c, m, p, body, other)
    await check(viaBrowser('A viewer (workspace)', wsViewer), m, p, body, view)
  }
  assert.equal(failures, [])

  // Lists never show another team's data.
  const bKeys = await (await outsider.b.get('/v1/api-keys')).json()
  assert.ok(!bKeys.some((k: { id: string }) => k.id === keyA.id))
  const bLog = await (await outsider.b.get('/v1/audit-logs?limit=200')).json()
  assert.ok(!bLog.entries.some((e: { team_id: string }) => e.team_id === A))
  const bTeams = await (await fetch(nb.url + '/v1/teams', { headers: { 'x-api-key': keyB.key } })).json()
  assert.ok(!bTeams.some((t: { id: string }) => t.id === A))
  const bWs = await (await wsOutsider.get('/api/workspaces')).json()
  assert.ok(!bWs.some((t: { id: string }) => t.id === A))

  // Nothing changed in A.
  const detail = await (await owner.b.get(`/v1/teams/${A}`)).json()
  assert.is(detail.team.name, 'Test User Team', 'not renamed')
  assert.equal(detail.members.map((m: { email: string; role: string }) => `${m.role}:${m.email}`), ['owner:iso-owner@example.com', 'member:iso-member@example.com', 'viewer:iso-viewer@example.com'])
  assert.is((await fetch(nb.url + '/v1/me', { headers: { 'x-api-key': keyA.key } })).status, 200, "A's key still works")
})

test('anonymous callers get 401 everywhere team-scoped', async () => {
  for (const [m, p] of [['GET', '/v1/teams'], ['POST', '/v1/teams'], ['GET', '/v1/api-keys'], ['GET', '/v1/audit-logs'], ['GET', '/v1/users/search?email=a@'], ['GET', '/api/workspaces'], ['POST', '/api/workspaces'], ['GET', '/v1/me/sessions']]) {
    const r = await fetch(nb.url + p, { method: m, headers: { 'content-type': 'application/json' }, body: m === 'GET' ? undefined : '{}' })
    assert.is(r.status, 401, `${m} ${p}`)
  }
})

test.run()
