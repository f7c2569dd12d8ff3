import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { TestNestbox } from '../harness.ts'
import { call, createCapsule, exec, startWithCapsule, type Caller, type Callers } from './fixtures.ts'

let nb: TestNestbox
let who: Callers
let id: string

test.before(async () => void ({ nb, who, id } = await startWithCapsule()))
test.after(() => nb?.close())

const snap = (json: unknown, as?: Caller) => (as ? call(nb, as, '/v1/snapshots', { method: 'POST', json }) : nb.api('/v1/snapshots', { method: 'POST', json }))

test('snapshot a capsule, start a new capsule from it by name: files come along, processes do not', async () => {
  await exec(nb, id, { cmd: 'mkdir -p /opt/app && echo v1 > /opt/app/version && echo tmp > /tmp/t' })
  await exec(nb, id, { cmd: 'sleep 300', background: true, tag: 'not-kept' })
  const r = await snap({ sandbox_id: id, name: 'app-v1' })
  assert.is(r.status, 201)
  const t = await r.json()
  assert.is(t.name, 'app-v1')
  assert.is(t.type, 'snapshot')
  assert.is(t.platform, false)
  assert.ok(t.size_bytes > 0)
  assert.match(t.note, /files, not its running processes/)
  assert.is(t.metadata.contents, 'files')
  // The source keeps running.
  assert.is((await (await nb.api(`/v1/capsules/${id}`)).json()).status, 'running')
  assert.is((await exec(nb, id, { cmd: 'echo still' })).body.stdout, 'still\n')

  const c = await nb.api('/v1/capsules', { method: 'POST', json: { template: 'app-v1' } })
  assert.is(c.status, 202)
  const cap = await c.json()
  assert.is(cap.template, 'app-v1')
  const { waitStatus } = await import('./fixtures.ts')
  await waitStatus(nb, cap.id, 'running')
  assert.is((await exec(nb, cap.id, { cmd: 'cat /opt/app/version' })).body.stdout, 'v1\n')
  const procs = await (await nb.api(`/v1/capsules/${cap.id}/processes`)).json()
  assert.ok(!procs.processes.some((p: { tag: string }) => p.tag === 'not-kept'))
  // Writes in the new capsule do not reach the template or its source.
  await exec(nb, cap.id, { cmd: 'echo v2 > /opt/app/version' })
  assert.is((await exec(nb, id, { cmd: 'cat /opt/app/version' })).body.stdout, 'v1\n')

  const inUse = await nb.api('/v1/snapshots/app-v1', { method: 'DELETE' })
  assert.is(inUse.status, 409)
  await nb.api(`/v1/capsules/${cap.id}`, { method: 'DELETE' })
})

test('409 on a duplicate name; generated name when omitted; 400/404 on bad input', async () => {
  const dup = await snap({ sandbox_id: id, name: 'app-v1' })
  assert.is(dup.status, 409)
  assert.match((await dup.json()).error.message, /app-v1/)
  assert.is((await snap({ sandbox_id: id, name: 'minimal' })).status, 409, 'the built-in name is taken')
  const auto = await snap({ sandbox_id: id })
  assert.is(auto.status, 201)
  assert.match((await auto.json()).name, /^snap-[0-9a-f]{8}$/)
  assert.is((await snap({ sandbox_id: id, name: 'bad name!' })).status, 400)
  assert.is((await snap({})).status, 400)
  assert.is((await snap({ sandbox_id: 'sb-00000000', name: 'x' })).status, 404)
})

test('list by type, delete, built-in undeletable', async () => {
  const all = await (await nb.api('/v1/snapshots')).json()
  const names = all.map((t: { name: string }) => t.name)
  assert.ok(names.includes('minimal') && names.includes('app-v1'))
  assert.ok(all.find((t: { name: string }) => t.name === 'minimal').platform)
  const snaps = await (await nb.api('/v1/snapshots?type=snapshot')).json()
  assert.ok(snaps.every((t: { type: string }) => t.type === 'snapshot'))
  const base = await (await nb.api('/v1/snapshots?type=base')).json()
  assert.equal(base.map((t: { name: string }) => t.name), ['minimal'])
  assert.is((await nb.api('/v1/snapshots?type=weird')).status, 400)

  const builtin = await nb.api('/v1/snapshots/minimal', { method: 'DELETE' })
  assert.is(builtin.status, 403)
  assert.match((await builtin.json()).error.message, /built-in/)
  assert.is((await nb.api('/v1/snapshots/app-v1', { method: 'DELETE' })).status, 204)
  assert.is((await nb.api('/v1/snapshots/app-v1', { method: 'DELETE' })).status, 404)
  const after = await (await nb.api('/v1/snapshots')).json()
  assert.ok(!after.some((t: { name: string }) => t.name === 'app-v1'))
  const gone = await nb.api('/v1/capsules', { method: 'POST', json: { template: 'app-v1' } })
  assert.is(gone.status, 400)
})

test('scenario table: snapshots per caller; templates are team-scoped', async () => {
  assert.is((await snap({ sandbox_id: id, name: 'team-only' })).status, 201)
  const rows: Array<[Caller, string, string, unknown, number]> = [
    [who.anonymous, 'GET', '/v1/snapshots', undefined, 401],
    [who.anonymous, 'POST', '/v1/snapshots', { sandbox_id: id, name: 'n1' }, 401],
    [who.otherTeam, 'POST', '/v1/snapshots', { sandbox_id: id, name: 'n2' }, 404],
    [who.otherTeam, 'DELETE', '/v1/snapshots/team-only', undefined, 404],
    [who.viewer, 'GET', '/v1/snapshots', undefined, 200],
    [who.viewer, 'POST', '/v1/snapshots', { sandbox_id: id, name: 'n3' }, 403],
    [who.viewer, 'DELETE', '/v1/snapshots/team-only', undefined, 403],
  ]
  for (const [caller, method, path, body, status] of rows) {
    const r = await call(nb, caller, path, { method, json: body })
    assert.is(r.status, status, `${caller.name} ${method} ${path}`)
  }
  const otherList = await (await call(nb, who.otherTeam, '/v1/snapshots')).json()
  assert.equal(otherList.map((t: { name: string }) => t.name), ['minimal'])
  const otherCreate = await call(nb, who.otherTeam, '/v1/capsules', { method: 'POST', json: { template: 'team-only' } })
  assert.is(otherCreate.status, 400, "another team cannot start from this team's snapshot")
  // Another team may use the same name for its own snapshot.
  const theirs = await createCapsule(nb, {}, who.otherTeam)
  assert.is((await call(nb, who.otherTeam, '/v1/snapshots', { method: 'POST', json: { sandbox_id: theirs, name: 'team-only' } })).status, 201)
  assert.is((await nb.api('/v1/snapshots/team-only', { method: 'DELETE' })).status, 204)
  assert.equal((await (await call(nb, who.otherTeam, '/v1/snapshots?type=snapshot')).json()).map((t: { name: string }) => t.name), ['team-only'])
})

test.run()
