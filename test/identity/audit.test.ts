import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { adminBrowser, newUser } from './helpers.ts'

let nb: TestNestbox
test.before(async () => {
  nb = await startTestNestbox({ set: { 'identity.rateLimit.signupPerIp': 1000 } })
})
test.after(() => nb.close())

type Entry = { id: string; action: string; resource_type: string; resource_id: string; actor_type: string; actor_id: string; actor_name: string; status: string; scope: string; metadata: Record<string, unknown>; created_at: string }

test('state-changing actions are recorded with actor, resource, status and metadata', async () => {
  const owner = await newUser(nb, 'aud@example.com', 'Aud')
  const mate = await newUser(nb, 'mate@example.com')
  const T = owner.team_id
  await owner.b.patch(`/v1/teams/${T}`, { name: 'Audited' })
  await owner.b.post(`/v1/teams/${T}/members`, { email: 'mate@example.com' })
  await owner.b.patch(`/v1/teams/${T}/members/${mate.user_id}`, { role: 'admin' })
  const key = await (await owner.b.post('/v1/api-keys', { name: 'audit key' })).json()
  await fetch(nb.url + '/v1/api-keys', { method: 'POST', headers: { 'x-api-key': key.key, 'content-type': 'application/json' }, body: '{"name":"by key"}' })
  await owner.b.del(`/v1/api-keys/${key.id}`)
  await owner.b.del(`/v1/teams/${T}/members/${mate.user_id}`)
  const page = await (await owner.b.get('/v1/audit-logs')).json()
  const seen = page.entries.map((e: Entry) => `${e.resource_type}.${e.action}`)
  for (const want of ['team.create', 'team.rename', 'member.add', 'member.role_update', 'api_key.create', 'api_key.delete', 'member.remove'])
    assert.ok(seen.includes(want), `${want} in ${seen}`)
  const rename = page.entries.find((e: Entry) => e.action === 'rename')
  assert.equal([rename.actor_type, rename.actor_id, rename.actor_name, rename.status, rename.scope, rename.resource_id], ['user', owner.user_id, 'Aud', 'success', 'team', T])
  assert.equal(rename.metadata, { name: 'Audited' })
  const byKey = page.entries.find((e: Entry) => e.action === 'create' && e.resource_type === 'api_key' && e.metadata.name === 'by key')
  assert.equal([byKey.actor_type, byKey.actor_id, byKey.actor_name], ['api_key', key.id, 'audit key'])
  // Newest first.
  const times = page.entries.map((e: Entry) => Date.parse(e.created_at))
  assert.equal(times, [...times].sort((a: number, b: number) => b - a))
  // Other teams' entries are not visible.
  assert.ok(!(await (await mate.b.get('/v1/audit-logs')).json()).entries.some((e: Entry) => e.action === 'rename'))
})

test('pagination: before/before_id cursor walks every entry exactly once; limit 1..200', async () => {
  const u = await newUser(nb, 'pager@example.com')
  for (let i = 0; i < 7; i++) await u.b.patch(`/v1/teams/${u.team_id}`, { name: `Name ${i}` })
  const all = (await (await u.b.get('/v1/audit-logs?limit=200')).json()).entries as Entry[]
  assert.ok(all.length >= 8)
  const walked: string[] = []
  let q = '?limit=3'
  for (let i = 0; i < 10; i++) {
    const p = await (await u.b.get('/v1/audit-logs' + q)).json()
    walked.push(...p.entries.map((e: Entry) => e.id))
    if (!p.next_cursor) break
    assert.is(p.entries.length, 3)
    q = `?limit=3&before=${encodeURIComponent(p.next_cursor.before)}&before_id=${p.next_cursor.before_id}`
  }
  assert.equal(walked, all.map((e) => e.id))
  for (const bad of ['?limit=0', '?limit=201', '?limit=abc', '?before=yesterday', '?before_id=al-x'])
    assert.is((await u.b.get('/v1/audit-logs' + bad)).status, 400, bad)
  const def = await (await u.b.get('/v1/audit-logs')).json()
  assert.ok(def.entries.length <= 50)
})

test('platform log: admins see every team and account events', async () => {
  const u = await newUser(nb, 'platform@example.com')
  await u.b.patch('/v1/me', { name: 'Renamed Person' })
  const a = await adminBrowser(nb)
  const page = await (await a.get('/v1/admin/audit-logs?limit=200')).json()
  const kinds = new Set(page.entries.map((e: Entry) => `${e.resource_type}.${e.action}`))
  for (const want of ['user.signup', 'user.activate', 'user.update_name', 'team.create', 'session.login']) assert.ok(kinds.has(want), want)
  assert.ok(page.entries.some((e: Entry) => e.scope === 'platform'))
  assert.ok(page.entries.some((e: Entry) => e.metadata && e.resource_id === u.user_id))
})

test('failed logins are recorded as failures', async () => {
  await newUser(nb, 'failer@example.com')
  await fetch(nb.url + '/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'failer@example.com', password: 'wrong wrong' }) })
  const a = await adminBrowser(nb)
  const page = await (await a.get('/v1/admin/audit-logs?limit=200')).json()
  assert.ok(page.entries.some((e: Entry) => e.action === 'login' && e.status === 'failure'))
})

test.run()
