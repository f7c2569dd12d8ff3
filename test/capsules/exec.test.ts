import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { TestNestbox } from '../harness.ts'
import { call, exec, openSocket, startWithCapsule, type Caller, type Callers } from './fixtures.ts'

let nb: TestNestbox
let who: Callers
let id: string

test.before(async () => void ({ nb, who, id } = await startWithCapsule()))
test.after(() => nb?.close())

test('foreground exec: shell line, argv form, exit code, stderr, duration', async () => {
  const a = await exec(nb, id, { cmd: 'echo ok' })
  assert.is(a.status, 200)
  assert.is(a.body.sandbox_id, id)
  assert.is(a.body.stdout, 'ok\n')
  assert.is(a.body.exit_code, 0)
  assert.is(a.body.encoding, 'utf-8')
  assert.type(a.body.duration_ms, 'number')
  const b = await exec(nb, id, { cmd: '/bin/sh', args: ['-c', 'echo err >&2; exit 3'] })
  assert.is(b.body.exit_code, 3)
  assert.is(b.body.stderr, 'err\n')
  const c = await exec(nb, id, { cmd: 'printf', args: ['%s|', 'a b', '$HOME'] })
  assert.is(c.body.stdout, 'a b|$HOME|', 'args are argv, not shell words')
  const env = await exec(nb, id, { cmd: 'echo $GREETING; pwd', envs: { GREETING: 'hello' }, cwd: '/tmp' })
  assert.is(env.body.stdout, 'hello\n/tmp\n')
  const badCwd = await exec(nb, id, { cmd: 'pwd', cwd: '/no/such/dir' })
  assert.is(badCwd.status, 400)
  assert.match(badCwd.body.error.message, /no\/such\/dir/)
})

test('binary output comes back base64 with encoding=base64', async () => {
  const r = await exec(nb, id, { cmd: "printf '\\377\\376\\000A'" })
  assert.is(r.body.encoding, 'base64')
  assert.equal([...Buffer.from(r.body.stdout, 'base64')], [0xff, 0xfe, 0x00, 0x41])
})

test('timeout_sec kills a foreground command', async () => {
  const t0 = Date.now()
  const r = await exec(nb, id, { cmd: 'sleep 30', timeout_sec: 1 })
  assert.is(r.status, 200)
  assert.ok(Date.now() - t0 < 10_000)
  assert.is.not(r.body.exit_code, 0)
  assert.is((await exec(nb, id, { cmd: 'echo x', timeout_sec: -5 })).status, 400)
  assert.is((await exec(nb, id, {})).status, 400)
  assert.is((await exec(nb, id, { cmd: 'echo', args: 'nope' })).status, 400)
})

test('background processes: 202 with pid and tag, listed, killed by tag and pid', async () => {
  const bg = await exec(nb, id, { cmd: 'sleep 300', background: true, tag: 'sleeper' })
  assert.is(bg.status, 202)
  assert.is(bg.body.tag, 'sleeper')
  assert.type(bg.body.pid, 'number')
  const dup = await exec(nb, id, { cmd: 'sleep 300', background: true, tag: 'sleeper' })
  assert.is(dup.status, 409)
  const auto = await exec(nb, id, { cmd: 'sleep', args: ['300'], background: true })
  assert.is(auto.status, 202)
  assert.ok(auto.body.tag, 'a tag is generated')
  const list = await (await nb.api(`/v1/capsules/${id}/processes`)).json()
  const tags = list.processes.map((p: { tag: string }) => p.tag)
  assert.ok(tags.includes('sleeper') && tags.includes(auto.body.tag), JSON.stringify(list))
  assert.is((await nb.api(`/v1/capsules/${id}/processes/sleeper?signal=SIGTERM`, { method: 'DELETE' })).status, 204)
  assert.is((await nb.api(`/v1/capsules/${id}/processes/${auto.body.pid}`, { method: 'DELETE' })).status, 204)
  await new Promise((r) => setTimeout(r, 300))
  const after = await (await nb.api(`/v1/capsules/${id}/processes`)).json()
  assert.ok(!after.processes.some((p: { tag: string }) => p.tag === 'sleeper' || p.tag === auto.body.tag), JSON.stringify(after))
  const missing = await nb.api(`/v1/capsules/${id}/processes/no-such-tag`, { method: 'DELETE' })
  assert.is(missing.status, 404)
  assert.match((await missing.json()).error.message, /no-such-tag/)
  assert.is((await nb.api(`/v1/capsules/${id}/processes/999999`, { method: 'DELETE' })).status, 404)
  assert.is((await nb.api(`/v1/capsules/${id}/processes/sleeper?signal=SIGSTOP`, { method: 'DELETE' })).status, 400)
})

test('any process in the capsule can be killed by its pid, not only tagged ones', async () => {
  await exec(nb, id, { cmd: 'sleep 301 & sleep 302 & wait', background: true, tag: 'parent' })
  let child: { pid: number } | undefined
  for (let i = 0; i < 50 && !child; i++) {
    const list = await (await nb.api(`/v1/capsules/${id}/processes`)).json()
    child = list.processes.find((p: { cmd: string; args: string[] }) => [p.cmd, ...p.args].join(' ').includes('301'))
    if (!child) await new Promise((r) => setTimeout(r, 50))
  }
  assert.ok(child, 'the untagged child is listed')
  assert.is((await nb.api(`/v1/capsules/${id}/processes/${child!.pid}`, { method: 'DELETE' })).status, 204)
  await new Promise((r) => setTimeout(r, 200))
  const after = await (await nb.api(`/v1/capsules/${id}/processes`)).json()
  assert.ok(!after.processes.some((p: { pid: number }) => p.pid === child!.pid))
  assert.is((await nb.api(`/v1/capsules/${id}/processes/parent`, { method: 'DELETE' })).status, 204)
})

test('exec stream over WebSocket: start, stdout/stderr, exit, close', async () => {
  const s = openSocket(nb, `/v1/capsules/${id}/exec/stream`)
  await s.opened
  s.send({ type: 'start', cmd: '/bin/sh', args: ['-c', 'echo one; echo two >&2; exit 7'] })
  const code = await s.closed
  assert.is(code, 1000)
  const types = s.messages.map((m) => m.text.type)
  assert.is(types[0], 'start')
  assert.type(s.messages[0].text.pid, 'number')
  const out = s.messages.filter((m) => m.text.type === 'stdout').map((m) => m.text.data).join('')
  const err = s.messages.filter((m) => m.text.type === 'stderr').map((m) => m.text.data).join('')
  assert.is(out, 'one\n')
  assert.is(err, 'two\n')
  assert.equal(s.messages.at(-1)!.text, { type: 'exit', exit_code: 7 })
})

test('exec stream: stop ends a long command; a bad first message gets an error frame', async () => {
  const s = openSocket(nb, `/v1/capsules/${id}/exec/stream`)
  await s.opened
  s.send({ type: 'start', cmd: 'sleep 60' })
  await s.until((m) => m.some((x) => x.text?.type === 'start'))
  s.send({ type: 'stop' })
  await s.closed
  const exit = s.messages.find((m) => m.text.type === 'exit')
  assert.ok(exit && exit.text.exit_code !== 0)

  const bad = openSocket(nb, `/v1/capsules/${id}/exec/stream`)
  await bad.opened
  bad.send({ type: 'start' })
  await bad.closed
  assert.is(bad.messages[0].text.type, 'error')
  assert.match(bad.messages[0].text.data, /cmd/)
})

test('process output stream follows a background process by tag', async () => {
  const bg = await exec(nb, id, { cmd: 'sleep 0.5; echo from-bg; echo bg-err >&2; exit 4', background: true, tag: 'follow-me' })
  assert.is(bg.status, 202)
  const s = openSocket(nb, `/v1/capsules/${id}/processes/follow-me/stream`)
  await s.opened
  await s.closed
  assert.equal(s.messages[0].text, { type: 'start', pid: bg.body.pid })
  assert.ok(s.messages.some((m) => m.text.type === 'stdout' && m.text.data.includes('from-bg')))
  assert.ok(s.messages.some((m) => m.text.type === 'stderr' && m.text.data.includes('bg-err')))
  assert.equal(s.messages.at(-1)!.text, { type: 'exit', exit_code: 4 })
  const none = openSocket(nb, `/v1/capsules/${id}/processes/nobody-here/stream`)
  const err = await none.opened.catch((e) => e)
  assert.is(err.status, 404)
})

test('scenario table: exec and processes per caller', async () => {
  await exec(nb, id, { cmd: 'sleep 300', background: true, tag: 'scenario' })
  const rows: Array<[Caller, string, string, unknown, number]> = [
    [who.anonymous, 'POST', `/v1/capsules/${id}/exec`, { cmd: 'id' }, 401],
    [who.otherTeam, 'POST', `/v1/capsules/${id}/exec`, { cmd: 'id' }, 404],
    [who.otherTeam, 'GET', `/v1/capsules/${id}/processes`, undefined, 404],
    [who.otherTeam, 'DELETE', `/v1/capsules/${id}/processes/scenario`, undefined, 404],
    [who.viewer, 'GET', `/v1/capsules/${id}/processes`, undefined, 200],
    [who.viewer, 'POST', `/v1/capsules/${id}/exec`, { cmd: 'id', background: true }, 403],
    [who.viewer, 'DELETE', `/v1/capsules/${id}/processes/scenario`, undefined, 403],
    [who.owner, 'DELETE', `/v1/capsules/${id}/processes/scenario`, undefined, 204],
  ]
  for (const [caller, method, path, body, status] of rows) {
    const r = await call(nb, caller, path, { method, json: body })
    assert.is(r.status, status, `${caller.name} ${method} ${path}`)
  }
  const headersOf = (c: Caller) => Object.fromEntries(Object.entries(c.headers).filter(([, v]) => v))
  for (const [caller, status] of [[who.anonymous, 401], [who.otherTeam, 404], [who.viewer, 403]] as const) {
    const s = openSocket(nb, `/v1/capsules/${id}/exec/stream`, headersOf(caller))
    const err = await s.opened.catch((e) => e)
    assert.is(err.status, status, `${caller.name} exec stream`)
  }
  await exec(nb, id, { cmd: 'sleep 1; echo watched', background: true, tag: 'watched' })
  for (const [caller, status] of [[who.anonymous, 401], [who.otherTeam, 404]] as const) {
    const s = openSocket(nb, `/v1/capsules/${id}/processes/watched/stream`, headersOf(caller))
    assert.is((await s.opened.catch((e) => e)).status, status, `${caller.name} process stream`)
  }
  const viewerStream = openSocket(nb, `/v1/capsules/${id}/processes/watched/stream`, headersOf(who.viewer))
  await viewerStream.opened
  await viewerStream.closed
  assert.ok(viewerStream.messages.some((m) => m.text.type === 'stdout' && m.text.data.includes('watched')), 'viewers may follow output')
})

test.run()
