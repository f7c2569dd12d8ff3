import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { TestNestbox } from '../harness.ts'
import { adminSession, call, createCapsule, openSocket, scenarioCallers, start, waitStatus, type Caller, type Callers } from './fixtures.ts'

let nb: TestNestbox
let who: Callers
let admin: Caller
let other: Caller
let theirs: string
let ours: string

test.before(async () => {
  nb = await start()
  who = await scenarioCallers(nb)
  admin = await adminSession(nb)
  other = who.otherTeam
  theirs = await createCapsule(nb, { metadata: { owner: 'other' } }, other)
  ours = await createCapsule(nb)
})
test.after(() => nb?.close())

test('team routes never reach another team: every capsule route answers 404', async () => {
  const paths: Array<[string, string, unknown]> = [
    ['GET', `/v1/capsules/${theirs}`, undefined],
    ['DELETE', `/v1/capsules/${theirs}`, undefined],
    ['POST', `/v1/capsules/${theirs}/pause`, undefined],
    ['POST', `/v1/capsules/${theirs}/resume`, undefined],
    ['POST', `/v1/capsules/${theirs}/ping`, undefined],
    ['POST', `/v1/capsules/${theirs}/exec`, { cmd: 'id' }],
    ['GET', `/v1/capsules/${theirs}/processes`, undefined],
    ['DELETE', `/v1/capsules/${theirs}/processes/1`, undefined],
    ['GET', `/v1/capsules/${theirs}/metrics`, undefined],
    ['POST', `/v1/capsules/${theirs}/files/read`, { path: '/etc/hostname' }],
    ['POST', `/v1/capsules/${theirs}/files/list`, { path: '/' }],
    ['POST', `/v1/capsules/${theirs}/files/mkdir`, { path: '/x' }],
    ['POST', `/v1/capsules/${theirs}/files/remove`, { path: '/x' }],
    ['POST', `/v1/capsules/${theirs}/files/stream/read`, { path: '/etc/hostname' }],
    ['POST', '/v1/snapshots', { sandbox_id: theirs, name: 'steal' }],
  ]
  for (const [method, path, body] of paths) {
    const r = await call(nb, who.owner, path, { method, json: body })
    assert.is(r.status, 404, `${method} ${path}`)
    const e = await r.json()
    assert.ok(!JSON.stringify(e).includes('other'), 'nothing about the other capsule leaks')
  }
  const list = await (await call(nb, who.owner, '/v1/capsules')).json()
  assert.ok(!list.some((c: { id: string }) => c.id === theirs))
  assert.is((await (await call(nb, other, `/v1/capsules/${theirs}`)).json()).status, 'running', 'untouched')
})

test('admin routes: only platform admins (session), across teams', async () => {
  const rows: Array<[Caller, string, string, unknown, number]> = [
    [who.anonymous, 'GET', '/v1/admin/capsules', undefined, 401],
    [who.owner, 'GET', '/v1/admin/capsules', undefined, 403],
    [who.viewer, 'GET', '/v1/admin/capsules', undefined, 403],
    [other, 'GET', `/v1/admin/capsules/${theirs}`, undefined, 403],
    [other, 'GET', '/v1/admin/templates', undefined, 403],
    [who.owner, 'POST', `/v1/admin/capsules/${theirs}/exec`, { cmd: 'id' }, 403],
    [admin, 'GET', `/v1/admin/capsules/${theirs}`, undefined, 200],
    [admin, 'GET', `/v1/admin/capsules/${theirs}/processes`, undefined, 200],
    [admin, 'GET', `/v1/admin/capsules/${theirs}/metrics`, undefined, 200],
    [admin, 'POST', `/v1/admin/capsules/${theirs}/files/mkdir`, { path: '/tmp/by-admin' }, 200],
    [admin, 'POST', `/v1/admin/capsules/${theirs}/files/list`, { path: '/tmp' }, 200],
    [admin, 'GET', '/v1/admin/templates', undefined, 200],
  ]
  for (const [caller, method, path, body, status] of rows) {
    const r = await call(nb, caller, path, { method, json: body })
    assert.is(r.status, status, `${caller.name} ${method} ${path}`)
  }
  const all = await (await call(nb, admin, '/v1/admin/capsules')).json()
  const ids = all.map((c: { id: string }) => c.id)
  assert.ok(ids.includes(theirs) && ids.includes(ours), 'admins list every team')
  const ex = await (await call(nb, admin, `/v1/admin/capsules/${theirs}/exec`, { method: 'POST', json: { cmd: 'echo admin-was-here' } })).json()
  assert.is(ex.stdout, 'admin-was-here\n')
})

test('admin create on behalf of a team (201), snapshot any capsule, manage templates, destroy (204)', async () => {
  const teamId = (await (await call(nb, other, `/v1/capsules/${theirs}`)).json()).team_id
  const c = await call(nb, admin, '/v1/admin/capsules', { method: 'POST', json: { team_id: teamId } })
  assert.is(c.status, 201)
  const made = await c.json()
  assert.is(made.team_id, teamId)
  await waitStatus(nb, made.id, 'running', 15_000, other)
  assert.is((await call(nb, other, `/v1/capsules/${made.id}`)).status, 200, 'the team sees the capsule made for it')
  assert.is((await call(nb, admin, '/v1/admin/capsules', { method: 'POST', json: { team_id: 'team-nope' } })).status, 400)

  const s = await call(nb, admin, `/v1/admin/capsules/${theirs}/snapshot`, { method: 'POST', json: { name: 'admin-snap' } })
  assert.is(s.status, 201)
  assert.is((await s.json()).name, 'admin-snap')
  const mine = await (await call(nb, other, '/v1/snapshots?type=snapshot')).json()
  assert.ok(mine.some((t: { name: string }) => t.name === 'admin-snap'), 'the snapshot belongs to the capsule team')
  const tpls = await (await call(nb, admin, '/v1/admin/templates')).json()
  assert.ok(tpls.some((t: { name: string }) => t.name === 'admin-snap'))
  assert.is((await call(nb, admin, '/v1/admin/templates/minimal', { method: 'DELETE' })).status, 403)
  assert.is((await call(nb, admin, '/v1/admin/templates/admin-snap', { method: 'DELETE' })).status, 204)
  assert.is((await call(nb, admin, '/v1/admin/templates/admin-snap', { method: 'DELETE' })).status, 404)

  const ws = openSocket(nb, `/v1/admin/capsules/${theirs}/exec/stream`, { cookie: admin.headers.cookie })
  await ws.opened
  ws.send({ type: 'start', cmd: 'echo via-admin-stream' })
  await ws.closed
  assert.ok(ws.messages.some((m) => m.text.type === 'stdout' && m.text.data.includes('via-admin-stream')))
  const refused = openSocket(nb, `/v1/admin/capsules/${theirs}/pty`)
  assert.is((await refused.opened.catch((e) => e)).status, 403, 'an API key is not an admin session')

  assert.is((await call(nb, admin, `/v1/admin/capsules/${made.id}`, { method: 'DELETE' })).status, 204)
  assert.is((await call(nb, other, `/v1/capsules/${made.id}`)).status, 404)
})

test('deleting a team destroys its capsules and snapshot templates', async () => {
  const { addMember } = await import('./fixtures.ts')
  const doomed = await addMember(nb, 'owner')
  const owner: Caller = { name: 'doomed owner', headers: { 'x-api-key': doomed.key } }
  const cap = await createCapsule(nb, {}, owner)
  assert.is((await call(nb, owner, '/v1/snapshots', { method: 'POST', json: { sandbox_id: cap, name: 'doomed-snap' } })).status, 201)
  const tplDir = (await nb.services.db.selectFrom('capsule_templates').select('root_dir').where('name', '=', 'doomed-snap').executeTakeFirstOrThrow()).root_dir!
  const del = await call(nb, owner, `/v1/teams/${doomed.teamId}`, { method: 'DELETE' })
  assert.is(del.status, 204, await del.clone().text())
  const fs = await import('node:fs')
  for (let i = 0; i < 100; i++) {
    const all = await (await call(nb, admin, '/v1/admin/capsules')).json()
    if (!all.some((c: { id: string }) => c.id === cap) && !fs.existsSync(tplDir)) break
    await new Promise((r) => setTimeout(r, 50))
  }
  const all = await (await call(nb, admin, '/v1/admin/capsules')).json()
  assert.ok(!all.some((c: { id: string }) => c.id === cap), 'the capsule is gone')
  const tpls = await (await call(nb, admin, '/v1/admin/templates')).json()
  assert.ok(!tpls.some((t: { name: string }) => t.name === 'doomed-snap'), 'the template is gone')
  assert.ok(!fs.existsSync(tplDir), 'its files are gone')
})

test.run()
