import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BusEvent } from '../../lib/core/events.ts'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { createCapsule, exec, start, waitStatus } from './fixtures.ts'

let nb: TestNestbox
const events: BusEvent[] = []

test.before(async () => {
  nb = await start({ 'capsules.limits.minTimeoutSec': 1, 'capsules.reaperIntervalMs': 100 })
  nb.services.bus.subscribe((e) => events.push(e))
})
test.after(() => nb?.close())

/** Every file and directory name under `dir`. */
function namesUnder(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      out.push(join(d, e.name))
      if (e.isDirectory() && !e.isSymbolicLink()) walk(join(d, e.name))
    }
  }
  walk(dir)
  return out
}

test('every state change is published and audited', async () => {
  events.length = 0
  const id = await createCapsule(nb)
  await nb.api(`/v1/capsules/${id}/pause`, { method: 'POST' })
  await nb.api(`/v1/capsules/${id}/resume`, { method: 'POST' })
  await nb.api(`/v1/capsules/${id}`, { method: 'DELETE' })
  const mine = events.filter((e) => e.resourceId === id)
  const changes = mine.filter((e) => e.type === 'capsule.state.changed').map((e) => `${e.data!.from}>${e.data!.to}`)
  assert.equal(changes, ['pending>starting', 'starting>running', 'running>paused', 'paused>running', 'running>stopping', 'stopping>stopped'])
  for (const type of ['capsule.create', 'capsule.pause', 'capsule.resume', 'capsule.destroy']) {
    const e = mine.find((x) => x.type === type)
    assert.ok(e, type)
    assert.is(e!.data!.outcome, 'success')
    assert.is(e!.teamId, nb.bootstrap.team_id)
  }
  const audit = await nb.services.db.selectFrom('audit_logs').select(['action', 'actor_type', 'status']).where('resource_id', '=', id).orderBy('created_at').execute()
  assert.equal(audit.map((a) => a.action), ['create', 'pause', 'resume', 'destroy'])
  assert.ok(audit.every((a) => a.actor_type === 'api_key' && a.status === 'success'))
  const transitions = await nb.services.db.selectFrom('capsule_transitions').select(['from_status', 'to_status']).where('capsule_id', '=', id).orderBy('seq').execute()
  assert.is(transitions.length, 6, 'every transition persisted')
})

test('idle reaper pauses a capsule idle past timeout_sec; ping and exec keep it alive; 0 never', async () => {
  const idle = (await (await nb.api('/v1/capsules', { method: 'POST', json: { timeout_sec: 1 } })).json()).id
  const never = (await (await nb.api('/v1/capsules', { method: 'POST', json: { timeout_sec: 0 } })).json()).id
  await waitStatus(nb, idle, 'running')
  await waitStatus(nb, never, 'running')
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 300))
    assert.is((await nb.api(`/v1/capsules/${idle}/ping`, { method: 'POST' })).status, 204, 'kept alive by ping')
  }
  assert.is((await exec(nb, idle, { cmd: 'true' })).status, 200)
  await waitStatus(nb, idle, 'paused', 5000)
  const ev = events.find((e) => e.type === 'capsule.pause' && e.resourceId === idle)
  assert.is(ev!.data!.reason, 'ttl_expired')
  const audit = await nb.services.db.selectFrom('audit_logs').select(['actor_type']).where('resource_id', '=', idle).where('action', '=', 'pause').executeTakeFirst()
  assert.is(audit!.actor_type, 'system')
  assert.is((await (await nb.api(`/v1/capsules/${never}`)).json()).status, 'running')
  assert.is((await exec(nb, idle, { cmd: 'true' })).status, 409)
  assert.is((await nb.api(`/v1/capsules/${idle}/resume`, { method: 'POST' })).status, 202)
  assert.is((await exec(nb, idle, { cmd: 'echo back' })).body.stdout, 'back\n')
  await nb.api(`/v1/capsules/${idle}`, { method: 'DELETE' })
  await nb.api(`/v1/capsules/${never}`, { method: 'DELETE' })
})

test('destroy removes everything the capsule had on the host, even right after create', async () => {
  const id = await createCapsule(nb)
  await exec(nb, id, { cmd: 'mkdir -p /root/stuff && head -c 100000 /dev/urandom > /root/stuff/blob' })
  await exec(nb, id, { cmd: 'sleep 300', background: true })
  assert.ok(namesUnder(nb.dataDir).some((n) => n.includes(id)), 'the capsule has host state while alive')
  assert.is((await nb.api(`/v1/capsules/${id}`, { method: 'DELETE' })).status, 202)
  assert.equal(namesUnder(nb.dataDir).filter((n) => n.includes(id)), [])
  assert.is((await nb.api(`/v1/capsules/${id}`)).status, 404)
  assert.is((await nb.api(`/v1/capsules/${id}`, { method: 'DELETE' })).status, 404)
  const list = await (await nb.api('/v1/capsules')).json()
  assert.ok(!list.some((c: { id: string }) => c.id === id))

  const r = await nb.api('/v1/capsules', { method: 'POST', json: {} })
  const quick = (await r.json()).id
  assert.is((await nb.api(`/v1/capsules/${quick}`, { method: 'DELETE' })).status, 202)
  assert.is((await nb.api(`/v1/capsules/${quick}`)).status, 404)
  assert.equal(namesUnder(nb.dataDir).filter((n) => n.includes(quick)), [])
})

test('a restart loses no capsule files: running and paused capsules come back', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-restart-'))
  try {
    let a = await startTestNestbox({ dataDir })
    const run = await createCapsule(a)
    const paused = await createCapsule(a)
    await exec(a, run, { cmd: 'echo survives > /root/note' })
    await exec(a, paused, { cmd: 'echo also > /root/note' })
    await a.api(`/v1/capsules/${paused}/pause`, { method: 'POST' })
    await a.close()

    a = await startTestNestbox({ dataDir })
    try {
      const got = await (await a.api(`/v1/capsules/${run}`)).json()
      assert.ok(['running', 'paused'].includes(got.status), `after restart: ${got.status}`)
      if (got.status === 'paused') assert.is((await a.api(`/v1/capsules/${run}/resume`, { method: 'POST' })).status, 202)
      assert.is((await exec(a, run, { cmd: 'cat /root/note' })).body.stdout, 'survives\n')
      assert.is((await (await a.api(`/v1/capsules/${paused}`)).json()).status, 'paused')
      assert.is((await a.api(`/v1/capsules/${paused}/resume`, { method: 'POST' })).status, 202)
      assert.is((await exec(a, paused, { cmd: 'cat /root/note' })).body.stdout, 'also\n')
      const recovered = await a.services.db.selectFrom('audit_logs').select(['resource_id', 'actor_type']).where('action', '=', 'recover').execute()
      assert.ok(got.status === 'paused' ? recovered.some((r) => r.resource_id === run && r.actor_type === 'system') : true, 'recovery is audited')
      for (const id of [run, paused]) assert.is((await a.api(`/v1/capsules/${id}`, { method: 'DELETE' })).status, 202)
    } finally {
      await a.close()
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test('with onShutdown=keep, running capsules keep running across a restart and are re-attached', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-keep-'))
  const set = { 'capsules.process.onShutdown': 'keep' }
  try {
    let a = await startTestNestbox({ dataDir, set })
    const id = await createCapsule(a)
    await exec(a, id, { cmd: 'echo kept-running > /root/k' })
    await exec(a, id, { cmd: 'sleep 300', background: true, tag: 'lives-on' })
    await a.close()
    a = await startTestNestbox({ dataDir, set })
    try {
      assert.is((await (await a.api(`/v1/capsules/${id}`)).json()).status, 'running')
      assert.is((await exec(a, id, { cmd: 'cat /root/k' })).body.stdout, 'kept-running\n')
      const procs = await (await a.api(`/v1/capsules/${id}/processes`)).json()
      assert.ok(procs.processes.some((p: { cmd: string; args: string[] }) => [p.cmd, ...p.args].join(' ').includes('sleep 300')), JSON.stringify(procs))
      assert.is((await a.api(`/v1/capsules/${id}`, { method: 'DELETE' })).status, 202)
    } finally {
      await a.close()
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test.run()
