/**
 * Exec output is never lost (issue 19): every byte a program wrote before it
 * exited reaches the caller, before the exit, on every path (foreground exec,
 * exec stream, process stream), however late nestbox gets to read it.
 *
 * "Late" is made on purpose, not by a busy machine: while slowReaders() is on,
 * every process nestbox starts has its stdout/stderr paused the moment it is
 * spawned (Node reads 64 KiB ahead, the rest stays in the kernel), and right
 * after its exit has been handled the event loop is blocked for 300 ms, as on a
 * machine too busy to read, so a rule that waits a fixed time after the exit
 * gives up before the output is read.
 */
import { randomBytes } from 'node:crypto'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { ChildProcess } from 'node:child_process'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { TestNestbox } from '../harness.ts'
import { createCapsule, exec, openSocket, start } from './fixtures.ts'

let nb: TestNestbox
let id: string

test.before(async () => {
  nb = await start()
  id = await createCapsule(nb)
})
test.after(() => nb?.close())

/**
 * While on, processes nestbox spawns do not have their output read until
 * nestbox asks for it. One exec first uses up an entry the capsule may have
 * started before (warm.ts), so the next ones all run in slowed processes.
 */
async function slowReaders() {
  const slow = pausedOutput()
  await exec(nb, id, { cmd: 'true' })
  slow.paused.length = 0
  return slow
}

function pausedOutput() {
  const paused: ChildProcess[] = []
  const onChild = (m: unknown) => {
    const child = (m as { process: ChildProcess }).process
    child.once('spawn', () => {
      child.stdout?.pause()
      child.stderr?.pause()
      paused.push(child)
    })
    child.once('exit', () => process.nextTick(busy, 300))
  }
  subscribe('child_process', onChild)
  return { paused, off: () => unsubscribe('child_process', onChild) }
}

/** Blocks this process (the in-process nestbox included) for `ms`. */
const busy = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
/** More than Node reads ahead of a paused stream (up to ~72 KiB); less than that plus what the kernel's socket buffer holds at worst (~100 KiB in 4 KiB writes). */
const SIZE = 90_000

const token = () => randomBytes(6).toString('hex')
/** What `yes <t> | head -c <n>` prints. */
const yes = (t: string, n: number) => `${t}\n`.repeat(Math.ceil(n / (t.length + 1))).slice(0, n)

test('foreground exec: output nestbox has not read by the exit is all returned', async () => {
  const slow = await slowReaders()
  try {
    for (let i = 0; i < 3; i++) {
      const t = token()
      const r = await exec(nb, id, { cmd: `yes ${t} | head -c ${SIZE}; yes e${t} | head -c 3000 >&2; exit 3` })
      assert.is(r.status, 200)
      assert.is(r.body.stdout, yes(t, SIZE), `exec ${i}: stdout`)
      assert.is(r.body.stderr, yes('e' + t, 3000), `exec ${i}: stderr`)
      assert.is(r.body.exit_code, 3)
    }
    assert.ok(slow.paused.length >= 3, `readers slowed: ${slow.paused.length}`)
  } finally {
    slow.off()
  }
})

test('a background descendant holding the pipes ends nothing early and holds nothing up', async () => {
  const slow = await slowReaders()
  try {
    const t = token()
    const t0 = Date.now()
    const r = await exec(nb, id, { cmd: `yes ${t} | head -c ${SIZE}; sleep 30 & exit 0`, timeout_sec: 60 })
    assert.ok(Date.now() - t0 < 10_000, 'answered without waiting for the background sleep')
    assert.is(r.body.stdout, yes(t, SIZE))
    assert.ok(slow.paused.length >= 1)
  } finally {
    slow.off()
  }
  // a writer the program waits for, however late it writes, is in the answer
  const t = token()
  const late = await exec(nb, id, { cmd: `(sleep 0.3; yes ${t} | head -c ${SIZE}) & wait; printf done` })
  assert.is(late.body.stdout, yes(t, SIZE) + 'done')
})

test('exec stream: every byte before the exit frame, with the reader slowed', async () => {
  const slow = await slowReaders()
  try {
    const t = token()
    const s = openSocket(nb, `/v1/capsules/${id}/exec/stream`)
    await s.opened
    s.send({ type: 'start', cmd: `yes ${t} | head -c ${SIZE}; yes e${t} | head -c 2000 >&2; exit 9` })
    assert.is(await s.closed, 1000)
    const data = (type: string) => s.messages.filter((m) => m.text.type === type).map((m) => m.text.data).join('')
    assert.is(data('stdout'), yes(t, SIZE))
    assert.is(data('stderr'), yes('e' + t, 2000))
    assert.equal(s.messages.at(-1)!.text, { type: 'exit', exit_code: 9 })
    assert.ok(slow.paused.length >= 1)
  } finally {
    slow.off()
  }
})

test('process stream: a viewer gets every byte before the exit frame, with the reader slowed', async () => {
  const slow = await slowReaders()
  try {
    const t = token()
    // the program waits for a go file, so the viewer is attached before any output
    const bg = await exec(nb, id, { cmd: `while [ ! -e /tmp/go-${t} ]; do sleep 0.02; done; yes ${t} | head -c ${SIZE}; exit 4`, background: true, tag: `p-${t}` })
    assert.is(bg.status, 202)
    const s = openSocket(nb, `/v1/capsules/${id}/processes/p-${t}/stream`)
    await s.opened
    await s.until((m) => m.some((x) => x.text?.type === 'start'))
    assert.is((await exec(nb, id, { cmd: `touch /tmp/go-${t}` })).body.exit_code, 0)
    await s.closed
    assert.is(s.messages.filter((m) => m.text.type === 'stdout').map((m) => m.text.data).join(''), yes(t, SIZE))
    assert.equal(s.messages.at(-1)!.text, { type: 'exit', exit_code: 4 })
    assert.ok(slow.paused.length >= 2)
  } finally {
    slow.off()
  }
})

test('hammer: concurrent creates and execs, short and 64 KiB outputs, checked byte for byte', async () => {
  const CAPSULES = 4
  const EXECS = 8
  const ids = await Promise.all(Array.from({ length: CAPSULES }, () => createCapsule(nb)))
  let checked = 0
  const lost: string[] = []
  const check = (what: string, got: unknown, want: string) => {
    checked++
    if (got !== want) lost.push(`${what}: got ${String(got).length} bytes, want ${want.length}`)
  }
  await Promise.all(
    ids.flatMap((cid) => [
      ...Array.from({ length: EXECS }, async (_, i) => {
        const t = token()
        if (i % 2 === 0) {
          const r = await exec(nb, cid, { cmd: `echo ${t}` })
          check(`${cid} echo`, r.body.stdout, `${t}\n`)
        } else {
          const r = await exec(nb, cid, { cmd: `yes ${t} | head -c 65536; printf e${t} >&2` })
          check(`${cid} 64 KiB`, r.body.stdout, yes(t, 65536))
          check(`${cid} stderr`, r.body.stderr, `e${t}`)
        }
      }),
      (async () => {
        const t = token()
        const s = openSocket(nb, `/v1/capsules/${cid}/exec/stream`)
        await s.opened
        s.send({ type: 'start', cmd: `yes ${t} | head -c 65536` })
        await s.closed
        check(`${cid} stream`, s.messages.filter((m) => m.text.type === 'stdout').map((m) => m.text.data).join(''), yes(t, 65536))
        check(`${cid} stream exit`, JSON.stringify(s.messages.at(-1)?.text), JSON.stringify({ type: 'exit', exit_code: 0 }))
      })(),
    ]),
  )
  assert.is(checked, CAPSULES * (EXECS + EXECS / 2 + 2))
  assert.equal(lost, [], `${lost.length} of ${checked} outputs lost`)
})

test.run()
