/**
 * The queue over two replicas: one request at a time per replica, more clients
 * than replicas all answered, INSTANCEID stickiness (and a replica's profile
 * keeping cookies and storage across requests), per-replica state in
 * __queue/status, and 503 once the queue timeout passes.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { TestNestbox } from '../harness.ts'
import type { PageServer } from './pages.ts'
import { client, startPool, startPoolWithPages, status, until } from './pool-helpers.ts'

let nb: TestNestbox
let token: string
let pages: PageServer
let close = async () => {}

test.before(async () => {
  ;({ nb, token, pages, close } = await startPoolWithPages({
    '/': '<html><head><title>Home</title></head><body><h1>home</h1></body></html>',
    '/set': { body: '<html><body>set</body></html>', headers: { 'set-cookie': 'visit=first-replica; Path=/; Max-Age=3600' } },
    '/echo': '<html><body><script>document.write(document.cookie || "none")</script></body></html>',
  }, { 'browser.replicas': 2 }))
})
test.after(() => close())

/** A script whose data tells when the replica began and ended it (the page's clock), after holding it `sec`. */
const timed = (sec: number) => ({ action: 'run_script', steps: [{ action: 'eval', expression: 'Date.now()', output_id: 'start' }, { action: 'sleep', duration: sec }, { action: 'eval', expression: 'Date.now()', output_id: 'end' }] })

test('six clients on two replicas: all answered, each replica one request at a time', async () => {
  const clients = Array.from({ length: 6 }, () => client(nb, token))
  const t0 = Date.now()
  const answers = await Promise.all(clients.map((c) => c.post(timed(0.7))))
  const took = Date.now() - t0
  for (const a of answers) {
    assert.is(a.status, 200, JSON.stringify(a.body))
    assert.is(a.body.success, true, JSON.stringify(a.body))
  }
  const byReplica = new Map<string, Array<[number, number]>>()
  for (const a of answers) {
    const spans = byReplica.get(a.instance!) ?? []
    spans.push([a.body.data.outputs.start.result, a.body.data.outputs.end.result])
    byReplica.set(a.instance!, spans)
  }
  assert.is(byReplica.size, 2, 'both replicas served')
  for (const [id, spans] of byReplica) {
    spans.sort((x, y) => x[0] - y[0])
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], `replica ${id} ran two requests at once: ${JSON.stringify(spans)}`)
  }
  assert.ok(took >= 3 * 700, `six 0.7 s holds on two replicas take at least 2.1 s (took ${took} ms)`)
  // a replica past 60% of its memory stays busy a moment after its answer, collecting its tab's garbage
  const s = await until(async () => {
    const x = await status(nb)
    return x.replicas.every((r) => r.state !== 'busy') && x
  }, 10_000, 'both replicas to be done')
  assert.is(s.running, 2)
  assert.equal(s.replicas.map((r) => r.state), ['idle', 'idle'])
})

test('INSTANCEID keeps a client on its replica, whose profile keeps cookies and storage', async () => {
  const a = client(nb, token)
  const first = await a.post({ action: 'goto', url: `${pages.base}/set` })
  assert.is(first.body.success, true, JSON.stringify(first.body))
  const mine = first.instance!
  assert.ok((await a.post({ action: 'eval', expression: 'localStorage.setItem("k", "kept"), 1' })).body.success)
  // other clients keep the other replica busy meanwhile; a sticky client still lands on its own
  for (let i = 0; i < 4; i++) {
    const [r] = await Promise.all([a.post({ action: 'goto', url: `${pages.base}/echo` }), client(nb, token).post({ action: 'ping' })])
    assert.is(r.instance, mine)
    assert.is(r.body.success, true)
  }
  const text = await a.post({ action: 'get_text' })
  assert.is(text.body.data.text, 'visit=first-replica', 'the cookie from an earlier request is still there')
  const stored = await a.post({ action: 'eval', expression: 'localStorage.getItem("k")' })
  assert.is(stored.body.data.result, 'kept')
  // a client without the cookie that lands on the other replica sees none of it
  const b = client(nb, token)
  b.instance = (await status(nb)).replicas.find((r) => r.id !== mine)!.id
  const other = await b.post({ action: 'goto', url: `${pages.base}/echo` })
  assert.is.not(other.instance, mine)
  assert.is((await b.post({ action: 'get_text' })).body.data.text, 'none')
})

test('status shows busy replicas and queue lengths while clients wait', async () => {
  const a = client(nb, token)
  await a.post({ action: 'ping' })
  const held = [a.post({ action: 'sleep', duration: 1.5 }), a.post({ action: 'ping' }), a.post({ action: 'ping' })]
  const s = await until(async () => {
    const s = await status(nb)
    const r = s.replicas.find((x) => x.id === a.instance)
    return r && r.state === 'busy' && r.queue_length === 2 ? s : null
  }, 5000, 'a busy replica with two queued')
  assert.is(s.replicas.length, 2)
  for (const r of await Promise.all(held)) assert.is(r.body.success, true)
  assert.is((await status(nb)).replicas.find((x) => x.id === a.instance)!.queue_length, 0)
})

test('a request that waits longer than the queue timeout gets 503 in the envelope', async () => {
  const one = await startPool({ 'browser.replicas': 1, 'browser.queueTimeoutSec': 2 })
  try {
    const x = client(one.nb, one.token)
    // the first replica's start counts against the short timeout too: wait until it is up
    await until(async () => (await x.post({ action: 'ping' })).body.success, 60_000, 'the replica up')
    const long = x.post({ action: 'sleep', duration: 5 })
    await until(async () => (await status(one.nb)).replicas[0]?.state === 'busy', 5000, 'the replica busy')
    const t0 = Date.now()
    const late = await client(one.nb, one.token).post({ action: 'ping' })
    assert.is(late.status, 503)
    assert.is(late.body.success, false)
    assert.match(late.body.error!, /no browser replica became free within 2 s/)
    assert.ok(Date.now() - t0 >= 1900, 'it waited the queue timeout')
    assert.is((await long).body.success, true, 'the request holding the replica is unaffected')
    assert.is((await client(one.nb, one.token).post({ action: 'ping' })).body.success, true, 'the next one is served')
  } finally {
    await one.nb.close()
  }
})

test.run()
