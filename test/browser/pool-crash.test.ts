/**
 * Replicas that die: a browser killed in the middle of a request answers that
 * request with a clear 503 (not a hang), a client stuck to it gets one clear
 * error and then a new replica; a replica over its memory limit is replaced
 * the same way. One replica, 256 MiB (the original's limit).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { TestNestbox } from '../harness.ts'
import { capsuleOf, client, sh, startPool, status, until } from './pool-helpers.ts'

let nb: TestNestbox
let token: string

test.before(async () => {
  ;({ nb, token } = await startPool({ 'browser.replicas': 1, 'browser.memoryMb': 256 }))
})
test.after(async () => {
  await nb?.close()
})

const ready = (not: string) => until(async () => (await status(nb)).replicas.find((r) => r.id && r.id !== not && r.state === 'idle')?.id ?? null, 60_000, 'a new replica')

test('a browser killed mid-request: that request 503s at once, a sticky client errs once, then a new replica serves', async () => {
  const a = client(nb, token)
  const b = client(nb, token)
  const first = await a.post({ action: 'ping' })
  const old = first.instance!
  b.instance = old
  const capsule = await capsuleOf(nb, old)
  const t0 = Date.now()
  const pending = a.post({ action: 'sleep', duration: 20 })
  await until(async () => (await status(nb)).replicas[0]?.state === 'busy', 5000, 'the replica busy')
  // the browser's main process, by its pid inside the capsule: the chromium without --type= whose parent is not a
  // chromium (a child it just forked, not yet exec'd, has the same name and command line)
  const main = 'for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = chromium ] || continue; tr "\\0" " " < $p/cmdline | grep -q -- --type= && continue; [ "$(cat /proc/$(cut -d" " -f4 $p/stat)/comm)" = chromium ] || echo ${p#/proc/}; done'
  const pid = (await sh(nb, capsule, main)).trim()
  assert.match(pid, /^\d+$/, `the main process: ${JSON.stringify(pid)}`)
  await sh(nb, capsule, `kill -9 ${pid}`)
  const dead = await pending
  assert.ok(Date.now() - t0 < 15_000, `answered long before the 20 s sleep would end (${Date.now() - t0} ms)`)
  assert.is(dead.status, 503)
  assert.is(dead.body.success, false)
  assert.match(dead.body.error!, /died during this request/)
  assert.match(dead.setCookie!, /INSTANCEID=;.*Max-Age=0/, 'the cookie is dropped')

  const fresh = await ready(old)
  const once = await b.post({ action: 'ping' })
  assert.is(once.status, 503)
  assert.match(once.body.error!, new RegExp(`replica ${old} was replaced`))
  assert.is(b.instance, null, 'the answer dropped the cookie')
  const next = await b.post({ action: 'ping' })
  assert.is(next.status, 200)
  assert.is(next.body.success, true)
  assert.is(next.instance, fresh)
  // the old capsule is gone, a new one runs the new replica
  const caps = (await (await nb.api('/v1/capsules')).json()) as Array<{ id: string; status: string }>
  assert.not.ok(caps.some((c) => c.id === capsule && c.status === 'running'))
  assert.is.not(await capsuleOf(nb, fresh), capsule)
})

test('a page that grows past the 256 MiB limit: the request fails clearly and the replica is replaced', async () => {
  const a = client(nb, token)
  const old = (await a.post({ action: 'goto', url: 'about:blank' })).instance!
  const grow = await a.post({ action: 'eval', expression: 'const a = []; for (let i = 0; i < 200; i++) a.push(new Array(1 << 20).fill(i)); a.length' })
  assert.is(grow.status, 503, JSON.stringify(grow.body))
  assert.is(grow.body.success, false)
  assert.match(grow.body.error!, /died during this request/)
  const fresh = await ready(old)
  const s = await status(nb)
  assert.is(s.replicas.length, 1)
  assert.is(s.replicas[0].id, fresh)
  const again = await a.post({ action: 'ping' })
  assert.is(again.body.success, true)
  assert.is(again.instance, fresh)
  assert.ok((s.replicas[0].memory_mb ?? 0) <= 256)
})

test.run()
