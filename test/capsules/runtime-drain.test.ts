/**
 * drain.ts on its own, with real processes and a real pty on the host: output
 * nobody has read by the exit is all delivered, and a descendant that keeps the
 * pipe open neither loses what was written before the exit nor holds it up.
 */
import { spawn } from 'node:child_process'
import pty from 'node-pty'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readTailBeforeDestroy, settleOutput } from '../../lib/capsules/runtime/drain.ts'

/** Runs `script`, reads none of its output before it exits, then settles. */
async function unreadUntilExit(script: string) {
  // a group of its own, so what it leaves running is killed with it afterwards
  const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const out: Buffer[] = []
  const sink = (b: Buffer) => out.push(b)
  child.stdout.pause()
  child.stdout.on('data', sink) // a paused stream stays paused
  child.stderr.resume()
  const t0 = Date.now()
  await new Promise<void>((res) => child.once('exit', () => void settleOutput([[child.stdout, sink], [child.stderr, () => {}]]).then(() => res())))
  const ms = Date.now() - t0
  try {
    process.kill(-child.pid!, 'SIGKILL')
  } catch {
    // nothing left
  }
  return { out: Buffer.concat(out).toString(), ms }
}

test('everything queued at the exit is delivered, in order', async () => {
  // more than Node reads ahead of a paused stream (16-72 KiB), so the rest is still in the kernel; less
  // than that plus what the socket holds at worst (~100 KiB in 4 KiB writes), so the writer can finish
  const { out } = await unreadUntilExit(`head -c 80000 /dev/zero | tr '\\0' a; printf END`)
  assert.is(out.length, 80_003)
  assert.ok(out.endsWith('aEND'))
})

test('a background descendant holding the pipe: what was written before the exit, at once', async () => {
  const { out, ms } = await unreadUntilExit(`head -c 80000 /dev/zero | tr '\\0' b; printf END; sleep 30 &`)
  assert.is(out, 'b'.repeat(80_000) + 'END')
  assert.ok(ms < 10_000, `took ${ms} ms`)
})

test('a descendant still flooding the pipe after the exit does not keep the drain reading', async () => {
  const { out, ms } = await unreadUntilExit(`printf first; (exec cat /dev/zero) &`)
  assert.ok(out.startsWith('first'))
  assert.ok(ms < 10_000, `took ${ms} ms`)
})

test('pty: output left unread while paused is delivered before the exit', async () => {
  const term = pty.spawn('/bin/sh', ['-c', `head -c 3000 /dev/zero | tr '\\0' z; printf END; exit 3`], { cols: 80, rows: 24, encoding: null } as pty.IPtyForkOptions)
  const got: Buffer[] = []
  const deliver = (b: Buffer) => got.push(b)
  term.onData((d) => deliver(Buffer.from(d as unknown as Uint8Array)))
  readTailBeforeDestroy(term, deliver)
  term.pause() // nothing is read until node-pty gives up waiting for the pty's end (200 ms after the exit)
  const code = await new Promise<number>((res) => term.onExit(({ exitCode }) => res(exitCode)))
  assert.is(code, 3)
  assert.is(Buffer.concat(got).toString(), 'z'.repeat(3000) + 'END')
})

test.run()
