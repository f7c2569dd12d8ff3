import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { TestNestbox } from '../harness.ts'
import { createCapsule, openSocket, startWithCapsule, type Callers } from './fixtures.ts'

let nb: TestNestbox
let who: Callers
let id: string

test.before(async () => void ({ nb, who, id } = await startWithCapsule()))
test.after(() => nb?.close())

const started = (s: ReturnType<typeof openSocket>) => s.until((m) => m.some((x) => x.text?.type === 'started')).then(() => s.messages.find((x) => x.text?.type === 'started')!.text)

/** Bytes a client got in output frames, checking that each is a {"type":"output","data":<base64>} text frame. */
function jsonOutput(s: ReturnType<typeof openSocket>) {
  assert.ok(!s.messages.some((m) => m.binary), 'no raw binary frames')
  return s.messages.filter((m) => m.text?.type === 'output').map((m) => Buffer.from(m.text.data, 'base64').toString()).join('')
}

test('a client that only reads, as seed 003 says, gets base64 JSON output frames from the first byte', async () => {
  const s = openSocket(nb, `/v1/capsules/${id}/pty`)
  await s.opened
  s.send({ type: 'start', cmd: '/bin/sh', args: ['-c', 'echo first-$((2*21)); sleep 0.2; echo second; exit 4'] })
  await s.closed
  const out = jsonOutput(s)
  assert.match(out, /first-42\r?\n/)
  assert.match(out, /second/)
  assert.is(s.messages[0].text.type, 'started')
  assert.equal(s.messages.at(-1)!.text, { type: 'exit', exit_code: 4 })
})

test('a program that is done at once: its output and exit code still arrive', async () => {
  for (let i = 0; i < 5; i++) {
    const s = openSocket(nb, `/v1/capsules/${id}/pty`)
    await s.opened
    s.send({ type: 'start', cmd: '/bin/sh', args: ['-c', `echo quick-${i}-$((5*5)); exit ${i + 1}`] })
    await s.closed
    assert.match(jsonOutput(s), new RegExp(`quick-${i}-25`))
    assert.equal(s.messages.at(-1)!.text, { type: 'exit', exit_code: i + 1 })
  }
})

test('after a reconnect the replay and the live output are JSON frames too', async () => {
  const a = openSocket(nb, `/v1/capsules/${id}/pty?frames=binary`)
  await a.opened
  a.send({ type: 'start', cmd: '/bin/sh' })
  const { tag } = await started(a)
  a.ws.send(Buffer.from('echo one-$((1+1))\n'))
  await a.until(() => a.text().includes('one-2'))
  assert.ok(a.messages.some((m) => m.binary), 'this client asked for binary frames')
  a.ws.close()
  await a.closed
  const b = openSocket(nb, `/v1/capsules/${id}/pty`)
  await b.opened
  b.send({ type: 'connect', tag })
  await b.until(() => b.text().includes('one-2'))
  b.send({ type: 'input', data: Buffer.from('echo two-$((1+2))\n').toString('base64') })
  await b.until(() => b.text().includes('two-3'))
  b.send({ type: 'kill' })
  await b.closed
  assert.match(jsonOutput(b), /two-3/)
})

test('raw binary frames are opt-in: ?frames=binary from the first byte; a bad frames value is refused', async () => {
  const s = openSocket(nb, `/v1/capsules/${id}/pty?frames=binary`)
  await s.opened
  s.send({ type: 'start', cmd: '/bin/sh', args: ['-c', 'echo raw-$((3*3))'] })
  await s.closed
  assert.ok(!s.messages.some((m) => m.text?.type === 'output'))
  assert.match(s.messages.filter((m) => m.binary).map((m) => m.binary!.toString()).join(''), /raw-9/)
  const bad = openSocket(nb, `/v1/capsules/${id}/pty?frames=xml`)
  assert.is((await bad.opened.catch((e) => e)).status, 400)
})

test('binary input first opts into binary output; resize; exit code', async () => {
  const s = openSocket(nb, `/v1/capsules/${id}/pty`)
  await s.opened
  s.send({ type: 'start', cols: 100, rows: 30 }) // default cmd: /bin/bash
  const st = await started(s)
  assert.match(st.tag, /^pty-[0-9a-f]{8}$/)
  assert.type(st.pid, 'number')
  s.ws.send(Buffer.from('echo hello-$((6*7))\n'))
  await s.until(() => s.text().includes('hello-42'))
  const firstBinary = s.messages.findIndex((m) => m.binary)
  assert.ok(firstBinary > 0, 'output after the binary input arrives as binary frames')
  assert.ok(!s.messages.slice(firstBinary).some((m) => m.text?.type === 'output'))
  s.send({ type: 'resize', cols: 132, rows: 43 })
  s.ws.send(Buffer.from('stty size\n'))
  await s.until(() => s.text().includes('43 132'))
  s.ws.send(Buffer.from('exit 5\n'))
  await s.closed
  assert.equal(s.messages.at(-1)!.text, { type: 'exit', exit_code: 5 })
})

test('base64 JSON input keeps base64 JSON output', async () => {
  const s = openSocket(nb, `/v1/capsules/${id}/pty`)
  await s.opened
  s.send({ type: 'start', cmd: '/bin/sh' })
  await started(s)
  s.send({ type: 'input', data: Buffer.from('echo legacy-$((1+1))\n').toString('base64') })
  await s.until((m) => m.some((x) => x.text?.type === 'output' && Buffer.from(x.text.data, 'base64').toString().includes('legacy-2')))
  s.ws.send(Buffer.from('echo later-$((2+2))\n')) // binary input after JSON input does not switch
  await s.until(() => s.text().includes('later-4'))
  s.send({ type: 'kill' })
  await s.closed
  assert.match(jsonOutput(s), /later-4/)
  assert.is(s.messages.at(-1)!.text.type, 'exit')
})

test('the session survives a disconnect; connect by tag replays recent output', async () => {
  const a = openSocket(nb, `/v1/capsules/${id}/pty`)
  await a.opened
  a.send({ type: 'start', cmd: '/bin/sh' })
  const { tag, pid } = await started(a)
  a.ws.send(Buffer.from('echo before-$((2+3))\n'))
  await a.until(() => a.text().includes('before-5'))
  a.ws.close()
  await a.closed

  const b = openSocket(nb, `/v1/capsules/${id}/pty`)
  await b.opened
  b.send({ type: 'connect', tag })
  const st = await started(b)
  assert.equal(st, { type: 'started', tag, pid })
  await b.until(() => b.text().includes('before-5'))
  b.ws.send(Buffer.from('echo after-$((3+4))\n'))
  await b.until(() => b.text().includes('after-7'))
  b.send({ type: 'kill' })
  await b.closed

  const c = openSocket(nb, `/v1/capsules/${id}/pty`)
  await c.opened
  c.send({ type: 'connect', tag })
  await c.closed
  assert.is(c.messages[0].text.type, 'error')
  assert.is(c.messages[0].text.fatal, true)
})

test('bad first message and refusals before the upgrade', async () => {
  const s = openSocket(nb, `/v1/capsules/${id}/pty`)
  await s.opened
  s.send({ type: 'resize', cols: 1, rows: 1 })
  await s.closed
  assert.equal(s.messages[0].text.fatal, true)
  for (const [caller, status] of [[who.anonymous, 401], [who.otherTeam, 404], [who.viewer, 403]] as const) {
    const x = openSocket(nb, `/v1/capsules/${id}/pty`, Object.fromEntries(Object.entries(caller.headers).filter(([, v]) => v)))
    const err = await x.opened.catch((e) => e)
    assert.is(err.status, status, caller.name)
  }
  const other = await createCapsule(nb)
  const a = openSocket(nb, `/v1/capsules/${id}/pty`)
  await a.opened
  a.send({ type: 'start', cmd: '/bin/sh' })
  const { tag } = await started(a)
  const b = openSocket(nb, `/v1/capsules/${other}/pty`)
  await b.opened
  b.send({ type: 'connect', tag })
  await b.closed
  assert.is(b.messages[0].text.type, 'error', 'a tag of another capsule does not attach')
  a.send({ type: 'kill' })
  await a.closed
  await nb.api(`/v1/capsules/${other}/pause`, { method: 'POST' })
  const paused = openSocket(nb, `/v1/capsules/${other}/pty`)
  assert.is((await paused.opened.catch((e) => e)).status, 409)
})

test.run()
