/**
 * WebSocket output to clients that stop reading (issue 9 §3): against
 * `cat /dev/zero`, nestbox's memory stays bounded on the exec stream, a process
 * stream viewer and the PTY. The exec stream and the PTY pause the program
 * until the client reads again (and lose nothing); a viewer is closed with 1008.
 * nestbox runs in this process, so its RSS is this process's RSS.
 */
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { TestNestbox } from '../harness.ts'
import { exec, openSocket, startWithCapsule } from './fixtures.ts'

let nb: TestNestbox
let id: string

test.before(async () => void ({ nb, id } = await startWithCapsule()))
test.after(() => nb?.close())

const MiB = 1 << 20
const LIMIT = 64 * MiB
/** How long a client leaves /dev/zero's output unread: at the ~100 MB/s nestbox read it before, gigabytes. */
const UNREAD_MS = 4_000

/** The highest RSS growth over `ms`, sampled every 50 ms. */
async function peakGrowth(base: number, ms: number) {
  let peak = 0
  for (const t0 = Date.now(); Date.now() - t0 < ms; ) {
    await new Promise((r) => setTimeout(r, 50))
    peak = Math.max(peak, process.memoryUsage.rss() - base)
  }
  return peak
}

const settle = async () => {
  ;(globalThis as { gc?: () => void }).gc?.()
  await new Promise((r) => setTimeout(r, 100))
  return process.memoryUsage.rss()
}

test('exec stream: a client that stops reading pauses cat /dev/zero; nothing is lost when it reads again', async () => {
  const s = openSocket(nb, `/v1/capsules/${id}/exec/stream`)
  await s.opened
  s.send({ type: 'start', cmd: 'cat /dev/zero' })
  await s.until((m) => m.some((x) => x.text?.type === 'stdout'))
  s.ws.pause()
  const base = await settle()
  const grew = await peakGrowth(base, UNREAD_MS)
  assert.ok(grew < LIMIT, `RSS grew ${(grew / MiB).toFixed(0)} MiB with a client not reading`)
  s.ws.resume()
  await s.until((m) => m.length > 200)
  s.send({ type: 'stop' })
  assert.is(await s.closed, 1000)
  assert.is(s.messages.at(-1)!.text.type, 'exit')
})

test('exec stream: a slow reader gets every byte before the exit frame', async () => {
  const t = randomBytes(4).toString('hex')
  const s = openSocket(nb, `/v1/capsules/${id}/exec/stream`)
  await s.opened
  // 16 MiB is more than the socket buffers and the pause threshold: the program waits for the reader
  s.send({ type: 'start', cmd: `head -c 16777216 /dev/zero | tr '\\0' x; printf END-${t}; exit 6` })
  await s.until((m) => m.some((x) => x.text?.type === 'stdout'))
  s.ws.pause()
  await new Promise((r) => setTimeout(r, 1500))
  s.ws.resume()
  await s.closed
  const out = s.messages.filter((m) => m.text.type === 'stdout').map((m) => m.text.data).join('')
  assert.is(out.length, 16 * MiB + 4 + t.length)
  assert.ok(out.endsWith(`xEND-${t}`))
  assert.equal(s.messages.at(-1)!.text, { type: 'exit', exit_code: 6 })
})

test('process stream: a viewer that stops reading is closed with 1008; the process goes on', async () => {
  const bg = await exec(nb, id, { cmd: 'cat /dev/zero', background: true, tag: 'zeros' })
  assert.is(bg.status, 202)
  const s = openSocket(nb, `/v1/capsules/${id}/processes/zeros/stream`)
  await s.opened
  await s.until((m) => m.some((x) => x.text?.type === 'stdout'))
  s.ws.pause()
  const base = await settle()
  const grew = await peakGrowth(base, UNREAD_MS)
  assert.ok(grew < LIMIT, `RSS grew ${(grew / MiB).toFixed(0)} MiB with a viewer not reading`)
  s.ws.resume()
  assert.is(await s.closed, 1008)
  const list = await (await nb.api(`/v1/capsules/${id}/processes`)).json()
  assert.ok(list.processes.some((p: { tag: string | null }) => p.tag === 'zeros'), 'the viewer did not stop the process')
  assert.is((await nb.api(`/v1/capsules/${id}/processes/zeros`, { method: 'DELETE' })).status, 204)
})

test('pty: a client that stops reading pauses the terminal; output goes on when it reads', async () => {
  const s = openSocket(nb, `/v1/capsules/${id}/pty`)
  await s.opened
  s.send({ type: 'start', cmd: '/bin/sh', args: ['-c', 'cat /dev/zero'] })
  await s.until((m) => m.some((x) => x.text?.type === 'output'))
  s.ws.pause()
  const base = await settle()
  const grew = await peakGrowth(base, UNREAD_MS)
  assert.ok(grew < LIMIT, `RSS grew ${(grew / MiB).toFixed(0)} MiB with a terminal client not reading`)
  s.ws.resume()
  const seen = s.messages.length
  await s.until((m) => m.length > seen + 100)
  s.send({ type: 'kill' })
  await s.closed
  assert.is(s.messages.at(-1)!.text.type, 'exit')
})

test('pty: a slow reader gets the whole output before the exit frame', async () => {
  const t = randomBytes(4).toString('hex')
  const s = openSocket(nb, `/v1/capsules/${id}/pty`)
  await s.opened
  s.send({ type: 'start', cmd: '/bin/sh', args: ['-c', `head -c 8388608 /dev/zero | tr '\\0' y; printf END-${t}; exit 3`] })
  await s.until((m) => m.some((x) => x.text?.type === 'started'))
  s.ws.pause()
  await new Promise((r) => setTimeout(r, 1500))
  s.ws.resume()
  await s.closed
  const out = s.text()
  assert.is(out.length, 8 * MiB + 4 + t.length)
  assert.ok(out.endsWith(`yEND-${t}`))
  assert.equal(s.messages.at(-1)!.text, { type: 'exit', exit_code: 3 })
})

test.run()
