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

test('start a terminal: binary frames both ways, resize, exit code', async () => {
  const s = openSocket(nb, `/v1/capsules/${id}/pty`)
  await s.opened
  s.send({ type: 'start', cols: 100, rows: 30 }) // default cmd: /bin/bash
  const st = await started(s)
  assert.match(st.tag, /^pty-[0-9a-f]{8}$/)
  assert.type(st.pid, 'number')
  s.ws.send(Buffer.from('echo hello-$((6*7))\n'))
  await s.until(() => s.text().includes('hello-42'))
  assert.ok(s.messages.some((m) => m.binary), 'output arrives as binary frames')
  s.send({ type: 'resize', cols: 132, rows: 43 })
  s.ws.send(Buffer.from('stty size\n'))
  await s.until(() => s.text().includes('43 132'))
  s.ws.send(Buffer.from('exit 5\n'))
  await s.closed
  assert.equal(s.messages.at(-1)!.text, { type: 'exit', exit_code: 5 })
})

test('older clients: base64 JSON input gets base64 JSON output', async () => {
  const s = openSocket(nb, `/v1/capsules/${id}/pty`)
  await s.opened
  s.send({ type: 'start', cmd: '/bin/sh' })
  await started(s)
  s.send({ type: 'input', data: Buffer.from('echo legacy-$((1+1))\n').toString('base64') })
  await s.until((m) => m.some((x) => x.text?.type === 'output' && Buffer.from(x.text.data, 'base64').toString().includes('legacy-2')))
  s.send({ type: 'kill' })
  await s.closed
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
