import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { TestNestbox } from '../harness.ts'
import { call, exec, startWithCapsule, waitStatus, type Caller, type Callers } from './fixtures.ts'

let nb: TestNestbox
let who: Callers
let id: string

test.before(async () => void ({ nb, who, id } = await startWithCapsule({ capsule: { metadata: { purpose: 'api-test' } } })))
test.after(() => nb?.close())

test('create answers 202 starting, then the capsule runs; ids are sb- + 8 hex', async () => {
  const r = await nb.api('/v1/capsules', { method: 'POST', json: { vcpus: 1, memory_mb: 256, timeout_sec: 0, metadata: { a: 'b' } } })
  assert.is(r.status, 202)
  const c = await r.json()
  assert.match(c.id, /^sb-[0-9a-f]{8}$/)
  assert.is(c.status, 'starting')
  assert.is(c.template, 'minimal')
  assert.is(c.vcpus, 1)
  assert.is(c.memory_mb, 256)
  assert.equal(c.metadata, { a: 'b' })
  await waitStatus(nb, c.id, 'running')
  const got = await (await nb.api(`/v1/capsules/${c.id}`)).json()
  assert.type(got.disk_used_mb, 'number')
  assert.ok(got.started_at)
  assert.is((await nb.api(`/v1/capsules/${c.id}`, { method: 'DELETE' })).status, 202)
  assert.is((await nb.api(`/v1/capsules/${c.id}`)).status, 404)
})

test('timeout_sec: 0 never, positive values below 60 raised to 60, larger kept', async () => {
  for (const [sent, kept] of [[0, 0], [1, 60], [59, 60], [61, 61], [3600, 3600]]) {
    const r = await nb.api('/v1/capsules', { method: 'POST', json: { timeout_sec: sent } })
    const c = await r.json()
    assert.is(c.timeout_sec, kept, `timeout_sec ${sent}`)
    await waitStatus(nb, c.id, 'running')
    await nb.api(`/v1/capsules/${c.id}`, { method: 'DELETE' })
  }
})

test('bad input: 400 with a clear message in the Wrenn envelope', async () => {
  const cases: Array<[unknown, string, RegExp]> = [
    [{ template: 'no-such-template' }, 'template_not_found', /no-such-template/],
    [{ vcpus: 0 }, 'out_of_bounds', /vcpus/],
    [{ vcpus: 999 }, 'out_of_bounds', /vcpus must be between 1 and 4/],
    [{ memory_mb: 1 << 30 }, 'out_of_bounds', /memory_mb/],
    [{ vcpus: 1.5 }, 'invalid_request', /integer/],
    [{ timeout_sec: -1 }, 'invalid_request', /timeout_sec/],
    [{ metadata: { 'bad key!': 'x' } }, 'invalid_metadata', /bad key/],
    [{ metadata: { k: 'x'.repeat(65) } }, 'invalid_metadata', /64/],
    [{ metadata: { k: 1 } }, 'invalid_metadata', /string/],
    [{ metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v'])) }, 'invalid_metadata', /20 keys/],
    [[1, 2], 'invalid_request', /object/],
  ]
  for (const [body, code, msg] of cases) {
    const r = await nb.api('/v1/capsules', { method: 'POST', json: body })
    assert.is(r.status, 400, JSON.stringify(body))
    const e = await r.json()
    assert.is(e.error.code, code, JSON.stringify(body))
    assert.match(e.error.message, msg)
    assert.type(e.error.request_id, 'string')
  }
  const ok = await nb.api('/v1/capsules', { method: 'POST', json: { metadata: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k.${i}_-x`, 'v'.repeat(64)])) } })
  assert.is(ok.status, 202)
  await nb.api(`/v1/capsules/${(await ok.json()).id}`, { method: 'DELETE' })
  const badJson = await nb.api('/v1/capsules', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } })
  assert.is(badJson.status, 400)
})

test('scenario table: lifecycle routes per caller', async () => {
  const rows: Array<[Caller, string, string, unknown, number]> = [
    [who.anonymous, 'GET', '/v1/capsules', undefined, 401],
    [who.anonymous, 'GET', `/v1/capsules/${id}`, undefined, 401],
    [who.anonymous, 'POST', '/v1/capsules', {}, 401],
    [who.otherTeam, 'GET', `/v1/capsules/${id}`, undefined, 404],
    [who.otherTeam, 'DELETE', `/v1/capsules/${id}`, undefined, 404],
    [who.otherTeam, 'POST', `/v1/capsules/${id}/pause`, undefined, 404],
    [who.otherTeam, 'POST', `/v1/capsules/${id}/exec`, { cmd: 'echo hi' }, 404],
    [who.otherTeam, 'POST', `/v1/capsules/${id}/ping`, undefined, 404],
    [who.otherTeam, 'GET', `/v1/capsules/${id}/metrics`, undefined, 404],
    [who.viewer, 'GET', `/v1/capsules/${id}`, undefined, 200],
    [who.viewer, 'GET', '/v1/capsules', undefined, 200],
    [who.viewer, 'GET', `/v1/capsules/${id}/metrics`, undefined, 200],
    [who.viewer, 'GET', `/v1/capsules/${id}/processes`, undefined, 200],
    [who.viewer, 'POST', '/v1/capsules', {}, 403],
    [who.viewer, 'POST', `/v1/capsules/${id}/exec`, { cmd: 'echo hi' }, 403],
    [who.viewer, 'POST', `/v1/capsules/${id}/pause`, undefined, 403],
    [who.viewer, 'POST', `/v1/capsules/${id}/ping`, undefined, 403],
    [who.viewer, 'DELETE', `/v1/capsules/${id}`, undefined, 403],
    [who.owner, 'GET', `/v1/capsules/${id}`, undefined, 200],
    [who.owner, 'POST', `/v1/capsules/${id}/ping`, undefined, 204],
    [who.member, 'POST', `/v1/capsules/${id}/exec`, { cmd: 'echo hi' }, 200],
    [who.owner, 'GET', '/v1/capsules/sb-00000000', undefined, 404],
  ]
  for (const [caller, method, path, body, status] of rows) {
    const r = await call(nb, caller, path, { method, json: body })
    assert.is(r.status, status, `${caller.name} ${method} ${path}`)
    if (status >= 400) assert.type((await r.json()).error.message, 'string')
  }
  const otherList = await (await call(nb, who.otherTeam, '/v1/capsules')).json()
  assert.ok(!otherList.some((c: { id: string }) => c.id === id), 'another team does not list our capsule')
  const mine = await (await call(nb, who.viewer, '/v1/capsules')).json()
  assert.ok(mine.some((c: { id: string }) => c.id === id))
})

test('pause and resume: 409 rules, exec on a paused capsule refused, files kept', async () => {
  await exec(nb, id, { cmd: 'echo kept > /tmp/pause-check' })
  const p = await nb.api(`/v1/capsules/${id}/pause`, { method: 'POST' })
  assert.is(p.status, 202)
  assert.is((await p.json()).status, 'paused')
  const again = await nb.api(`/v1/capsules/${id}/pause`, { method: 'POST' })
  assert.is(again.status, 409)
  const ex = await exec(nb, id, { cmd: 'echo no' })
  assert.is(ex.status, 409)
  assert.is(ex.body.error.code, 'capsule_paused')
  assert.match(ex.body.error.message, /paused/)
  assert.is((await nb.api(`/v1/capsules/${id}/ping`, { method: 'POST' })).status, 409)
  const rs = await nb.api(`/v1/capsules/${id}/resume`, { method: 'POST' })
  assert.is(rs.status, 202)
  assert.is((await rs.json()).status, 'running')
  assert.is((await nb.api(`/v1/capsules/${id}/resume`, { method: 'POST' })).status, 409)
  const cat = await exec(nb, id, { cmd: 'cat /tmp/pause-check' })
  assert.is(cat.body.stdout, 'kept\n')
})

test('memory_mb is a limit: a process that exceeds it is killed inside, the capsule and nestbox carry on', async () => {
  const r = await nb.api('/v1/capsules', { method: 'POST', json: { memory_mb: 64 } })
  const small = (await r.json()).id
  await waitStatus(nb, small, 'running')
  const hog = await exec(nb, small, { cmd: 'python3', args: ['-c', 'b = bytearray(300 * 1024 * 1024); print(len(b))'], timeout_sec: 30 })
  assert.is(hog.status, 200)
  assert.is.not(hog.body.exit_code, 0, 'the allocation did not survive')
  assert.ok(!hog.body.stdout.includes('314572800'))
  assert.is((await exec(nb, small, { cmd: 'echo alive' })).body.stdout, 'alive\n')
  assert.is((await nb.api(`/v1/capsules/${small}`, { method: 'DELETE' })).status, 202)
})

test('stats and usage: shapes, ranges, 400 on bad input', async () => {
  const s = await (await nb.api('/v1/capsules/stats?range=5m')).json()
  assert.is(s.range, '5m')
  assert.ok(s.current.running_count >= 1)
  assert.ok(s.current.vcpus_reserved >= 1)
  assert.ok(s.current.memory_mb_reserved >= 1)
  assert.ok(s.peaks.running_count >= s.current.running_count)
  assert.is(s.series.labels.length, s.series.running.length)
  assert.ok(s.series.running.at(-1) >= 1)
  assert.is((await nb.api('/v1/capsules/stats?range=7y')).status, 400)
  const other = await (await call(nb, who.otherTeam, '/v1/capsules/stats')).json()
  assert.is(other.current.running_count, 0)

  await exec(nb, id, { cmd: 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done' })
  await nb.services.jobs.runNow('capsules.metrics')
  await nb.services.capsules.sampler.flush()
  const u = await (await nb.api('/v1/capsules/usage')).json()
  assert.is(u.points.length, 31)
  const today = u.points.at(-1)
  assert.is(today.date, new Date().toISOString().slice(0, 10))
  assert.ok(today.ram_mb_minutes > 0, 'RAM usage accrued')
  assert.ok(today.cpu_minutes > 0, 'CPU usage accrued')
  const otherU = await (await call(nb, who.otherTeam, '/v1/capsules/usage')).json()
  assert.is(otherU.points.at(-1).cpu_minutes, 0)
  assert.is((await nb.api('/v1/capsules/usage?from=2026-13-01')).status, 400)
  assert.is((await nb.api('/v1/capsules/usage?from=2026-02-01&to=2026-01-01')).status, 400)
})

test('metrics: hot tier points, ranges, 400 and 404', async () => {
  await new Promise((r) => setTimeout(r, 350))
  const m = await (await nb.api(`/v1/capsules/${id}/metrics?range=10m`)).json()
  assert.is(m.sandbox_id, id)
  assert.ok(m.points.length >= 2, `got ${m.points.length} points`)
  const pt = m.points.at(-1)
  assert.type(pt.timestamp_unix, 'number')
  assert.ok(pt.mem_bytes > 0)
  assert.ok(pt.cpu_pct >= 0 && pt.cpu_pct <= 100)
  assert.type(pt.disk_bytes, 'number')
  assert.is((await nb.api(`/v1/capsules/${id}/metrics?range=3d`)).status, 400)
  // Coarser tiers are averages persisted when their window closes (forced here).
  await nb.services.capsules.sampler.flush()
  for (const range of ['1h', '2h', '6h', '24h']) {
    const long = await (await nb.api(`/v1/capsules/${id}/metrics?range=${range}`)).json()
    assert.is(long.range, range)
    assert.ok(long.points.length >= 1, `${range}: ${JSON.stringify(long)}`)
    assert.ok(long.points.at(-1).mem_bytes > 0)
  }
})

test.run()
