import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { newUser } from './helpers.ts'

let nb: TestNestbox
test.before(async () => {
  nb = await startTestNestbox({ set: { 'identity.rateLimit.signupPerIp': 1000 } })
})
test.after(() => nb.close())

test('create, list, get, rename a team', async () => {
  const { b } = await newUser(nb, 'tcreate@example.com', 'Tea')
  assert.is((await b.post('/v1/teams', { name: 'bad-name!' })).status, 400)
  assert.is((await b.post('/v1/teams', { name: '' })).status, 400)
  assert.is((await b.post('/v1/teams', { name: 'x'.repeat(129) })).status, 400)
  const r = await b.post('/v1/teams', { name: 'Research Lab_2' })
  assert.is(r.status, 201)
  const t = await r.json()
  assert.equal([t.name, t.role], ['Research Lab_2', 'owner'])
  assert.match(t.slug, /^[0-9a-f]{6}-[0-9a-f]{6}$/)
  const list = await (await b.get('/v1/teams')).json()
  assert.equal(list.map((x: { name: string }) => x.name).sort(), ['Research Lab_2', 'Tea Team'])
  // The seed scopes /v1/teams/{id} to the session's team: switch first.
  assert.is((await b.get(`/v1/teams/${t.id}`)).status, 403)
  assert.is((await b.post('/v1/auth/switch-team', { team_id: t.id })).status, 200)
  const detail = await (await b.get(`/v1/teams/${t.id}`)).json()
  assert.is(detail.team.id, t.id)
  assert.equal(detail.members.map((m: { email: string; role: string }) => [m.email, m.role]), [['tcreate@example.com', 'owner']])
  assert.ok(detail.members[0].joined_at)
  assert.is((await b.patch(`/v1/teams/${t.id}`, { name: 'Renamed' })).status, 204)
  assert.is((await (await b.get(`/v1/teams/${t.id}`)).json()).team.name, 'Renamed')
  assert.is((await b.patch(`/v1/teams/${t.id}`, { name: '<script>' })).status, 400)
})

test('members: add by email, role changes and removals follow the owner/admin rules', async () => {
  const owner = await newUser(nb, 'mowner@example.com')
  const admin = await newUser(nb, 'madmin@example.com')
  const member = await newUser(nb, 'mmember@example.com')
  const extra = await newUser(nb, 'mextra@example.com')
  const T = owner.team_id
  const add = await owner.b.post(`/v1/teams/${T}/members`, { email: 'madmin@example.com' })
  assert.is(add.status, 201)
  const added = await add.json()
  assert.equal([added.email, added.role, added.user_id], ['madmin@example.com', 'member', admin.user_id])
  assert.is((await owner.b.post(`/v1/teams/${T}/members`, { email: 'madmin@example.com' })).status, 400, 'already a member')
  assert.is((await owner.b.post(`/v1/teams/${T}/members`, { email: 'ghost@example.com' })).status, 404)
  assert.is((await owner.b.patch(`/v1/teams/${T}/members/${admin.user_id}`, { role: 'owner' })).status, 400, 'ownership does not move')
  assert.is((await owner.b.patch(`/v1/teams/${T}/members/${admin.user_id}`, { role: 'admin' })).status, 204)
  await owner.b.post(`/v1/teams/${T}/members`, { email: 'mmember@example.com' })
  for (const u of [admin, member]) assert.is((await u.b.post('/v1/auth/switch-team', { team_id: T })).status, 200)

  // A member cannot manage members or rename; an admin can, but not touch the owner.
  assert.is((await member.b.post(`/v1/teams/${T}/members`, { email: 'mextra@example.com' })).status, 403)
  assert.is((await member.b.patch(`/v1/teams/${T}`, { name: 'Nope' })).status, 403)
  assert.is((await member.b.del(`/v1/teams/${T}/members/${admin.user_id}`)).status, 403)
  assert.is((await admin.b.post(`/v1/teams/${T}/members`, { email: 'mextra@example.com' })).status, 201)
  assert.is((await admin.b.patch(`/v1/teams/${T}/members/${owner.user_id}`, { role: 'member' })).status, 403, "owner's role is fixed")
  assert.is((await admin.b.del(`/v1/teams/${T}/members/${owner.user_id}`)).status, 403, 'owner cannot be removed')
  assert.is((await admin.b.patch(`/v1/teams/${T}/members/usr-nobody`, { role: 'member' })).status, 404)
  assert.is((await admin.b.del(`/v1/teams/${T}/members/${extra.user_id}`)).status, 204)
  assert.is((await admin.b.del(`/v1/teams/${T}/members/${extra.user_id}`)).status, 404)
  assert.is((await admin.b.patch(`/v1/teams/${T}`, { name: 'Admin Renamed' })).status, 204)
  assert.is((await admin.b.del(`/v1/teams/${T}`)).status, 403, 'only the owner deletes')
  const members = await (await member.b.get(`/v1/teams/${T}/members`)).json()
  assert.equal(members.map((m: { email: string; role: string }) => `${m.role}:${m.email}`), ['owner:mowner@example.com', 'admin:madmin@example.com', 'member:mmember@example.com'])

  // Leaving: members may, the owner may not.
  assert.is((await owner.b.post(`/v1/teams/${T}/leave`)).status, 403)
  assert.is((await member.b.post(`/v1/teams/${T}/leave`)).status, 204)
  const me = await (await member.b.get('/v1/me')).json()
  assert.is(me.team_id, null, 'a session whose team was left has no team scope')
  assert.is((await member.b.get(`/v1/teams/${T}/members`)).status, 403)
})

test('team delete: owner only, soft delete, slug reserved, members lose access', async () => {
  const owner = await newUser(nb, 'downer@example.com')
  const t = await (await owner.b.post('/v1/teams', { name: 'Doomed' })).json()
  await owner.b.post('/v1/auth/switch-team', { team_id: t.id })
  const events: string[] = []
  const off = nb.services.bus.subscribe((e) => e.type === 'team.delete' && events.push(e.teamId!))
  assert.is((await owner.b.del(`/v1/teams/${t.id}`)).status, 204)
  off()
  assert.equal(events, [t.id], 'other domains are told to stop the team’s resources')
  assert.is((await owner.b.get(`/v1/teams/${t.id}`)).status, 403, 'no longer the active team')
  const row = await nb.services.db.selectFrom('teams').selectAll().where('id', '=', t.id).executeTakeFirstOrThrow()
  assert.ok(row.deleted_at)
  assert.is(row.slug, t.slug, 'slug kept, so never reused (unique)')
  assert.ok(!(await (await owner.b.get('/v1/teams')).json()).some((x: { id: string }) => x.id === t.id))
})

test('user search: needs "@", prefix match, at most 10', async () => {
  const { b } = await newUser(nb, 'searcher@example.com')
  for (let i = 0; i < 12; i++) await newUser(nb, `zed@s${String(i).padStart(2, '0')}.test`)
  const q = (prefix: string) => b.get('/v1/users/search?email=' + encodeURIComponent(prefix))
  assert.is((await q('zed')).status, 400)
  assert.is((await b.get('/v1/users/search')).status, 400)
  const ten = await (await q('zed@')).json()
  assert.is(ten.length, 10)
  assert.equal(ten.map((u: { email: string }) => u.email), Array.from({ length: 10 }, (_, i) => `zed@s${String(i).padStart(2, '0')}.test`))
  assert.ok(ten[0].user_id.startsWith('usr-'))
  assert.equal((await (await q('ZED@S11')).json()).map((u: { email: string }) => u.email), ['zed@s11.test'], 'case-insensitive prefix')
  assert.equal(await (await q('%@')).json(), [], 'LIKE wildcards are literal')
  assert.equal(await (await q('ed@s0')).json(), [], 'prefix, not substring')
})

test.run()
