/**
 * Live events benchmark (issue 16), against one in-process nestbox; the SSE
 * clients live in a child process (lib/sse-clients.ts) so their cost stays out of
 * the server's numbers:
 *
 *  1. latency: an event published on the bus → received by each of 100 SSE
 *     clients (p50/p99 over every client × event; target p50 ≤ 5 ms);
 *  2. memory: nestbox RSS growth per idle SSE client with 1,000 connected, after a
 *     forced GC, median of rounds (target ≤ 20 KiB); also with V8's young generation
 *     capped at 1 MiB, and a bare node:http server holding the same streams (controls);
 *  3. channels: capsule create → first exec with a dead channel subscribed and a
 *     burst of 10,000 events queued for it, vs without channels (target within 10%).
 *
 *   node test/bench/events.ts [--rounds N] [--only latency|memory|channels]
 */
import { fork, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../lib/core/config/index.ts'
import { silentLogger } from '../../lib/core/logger.ts'
import { startNestbox, type Nestbox } from '../../lib/http/server.ts'
import { median, pct, printTable } from './lib/measure.ts'
import { readFileSync } from 'node:fs'

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}
const ROUNDS = arg('rounds', 3)
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function boot(set: Record<string, string | number> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-bench-events-'))
  const argv = ['--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0']
  for (const [k, v] of Object.entries(set)) argv.push('--set', `${k}=${v}`)
  const nb = await startNestbox(loadConfig({ argv, env: {} }), { log: silentLogger })
  const key = /api_key=(\S+)/.exec(readFileSync(join(dataDir, 'bootstrap.txt'), 'utf8'))![1]
  const team = /team_id=(\S+)/.exec(readFileSync(join(dataDir, 'bootstrap.txt'), 'utf8'))![1]
  return { nb, key, team, close: async () => (await nb.close(), rmSync(dataDir, { recursive: true, force: true })) }
}

function clients(url: string, key: string, n: number): Promise<{ child: ChildProcess; report: () => Promise<number[]>; stop: () => void }> {
  const child = fork(new URL('./lib/sse-clients.ts', import.meta.url).pathname, [url, key, String(n)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((res, rej) => {
    child.on('message', function onReady(m: { ready?: boolean; error?: string }) {
      if (m.error) return rej(new Error(m.error))
      if (!m.ready) return
      child.off('message', onReady)
      res({
        child,
        report: () => new Promise((r) => (child.once('message', (x: { lat: number[] }) => r(x.lat)), child.send({ report: true }))),
        stop: () => child.send({ exit: true }),
      })
    })
  })
}

async function latency(nb: Nestbox, key: string, team: string) {
  const c = await clients(`${nb.url}/v1/events/stream?types=host.*`, key, 100)
  // in-process: publish → appended to the log and written to all 100 sockets (onAppend runs after the fan-out)
  const server: number[] = []
  let t0 = 0
  nb.services.events.onAppend(() => server.push(performance.now() - t0))
  for (let i = 0; i < 200; i++) {
    t0 = performance.now()
    nb.services.bus.publish({ type: 'host.up', teamId: team, resourceType: 'host', resourceId: `h${i}`, data: { t: now() } })
    await sleep(10)
  }
  await sleep(200)
  const all = await c.report()
  c.stop()
  return { n: all.length, p50: pct(all, 50), p99: pct(all, 99), s50: pct(server, 50), s99: pct(server, 99) }
}

/** Each round in a fresh nestbox process: its RSS with 10 streams open (warm) → with 1,010. */
async function memory(kind: 'nestbox' | 'bare', execArgv: string[] = []) {
  const per: number[] = []
  const heap: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const srv = fork(new URL('./lib/events-server.ts', import.meta.url).pathname, kind === 'bare' ? ['bare'] : [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, ...execArgv] })
    const ask = <T>(m: object) => new Promise<T>((res) => (srv.once('message', (x) => res(x as T)), srv.send(m)))
    const { url, key } = await new Promise<{ url: string; key: string }>((res) => srv.once('message', (x) => res(x as { url: string; key: string })))
    const warm = await clients(`${url}/v1/events/stream`, key, 10)
    await sleep(300)
    const b0 = await ask<{ rss: number; heap: number; ext: number }>({ rss: true })
    const before = b0.rss
    const c = await clients(`${url}/v1/events/stream`, key, 1000)
    await sleep(500)
    const after = await ask<{ rss: number; heap: number; clients: number }>({ rss: true })
    if (after.clients !== 1010) throw new Error(`expected 1010 streams, nestbox holds ${after.clients}`)
    per.push((after.rss - before) / 1000)
    heap.push((after.heap - b0.heap) / 1000)
    c.stop()
    warm.stop()
    srv.send({ exit: true })
    await new Promise((res) => srv.once('exit', res))
  }
  return { per, heap }
}

/** create → first exec over HTTP (the exec waits for the capsule to start), then destroy. */
async function createToExec(url: string, key: string): Promise<number> {
  const h = { 'x-api-key': key, 'content-type': 'application/json' }
  const t0 = performance.now()
  const c = await (await fetch(`${url}/v1/capsules`, { method: 'POST', headers: h, body: '{}' })).json()
  const r = await fetch(`${url}/v1/capsules/${c.id}/exec`, { method: 'POST', headers: h, body: JSON.stringify({ cmd: 'true' }) })
  if (r.status !== 200) throw new Error(`exec failed: ${r.status} ${await r.text()}`)
  const ms = performance.now() - t0
  await fetch(`${url}/v1/capsules/${c.id}`, { method: 'DELETE', headers: h })
  return ms
}

/** Rounds alternate: capsules without channels, then right after a 10,000-event burst queued for a dead (black-hole) channel. */
async function deadChannel() {
  const hole = createServer(() => {}) // accepts, never answers: every delivery waits for its timeout
  await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r))
  const b = await boot({ 'events.channels.allowPrivateDestinations': 'true', 'events.channels.timeoutMs': 2000 })
  const h = { 'x-api-key': b.key, 'content-type': 'application/json' }
  const base: number[] = []
  const burst: number[] = []
  let queuedMs = 0
  await createToExec(b.nb.url, b.key) // warm
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < 5; i++) base.push(await createToExec(b.nb.url, b.key))
    const ch = await (await fetch(`${b.nb.url}/v1/channels`, { method: 'POST', headers: h, body: JSON.stringify({ name: `dead-${r}`, provider: 'webhook', config: { url: `http://127.0.0.1:${(hole.address() as { port: number }).port}/hook` }, events: ['host.up'] }) })).json()
    const t0 = performance.now()
    for (let i = 0; i < 10_000; i++) b.nb.services.bus.publish({ type: 'host.up', teamId: b.team, resourceType: 'host', resourceId: `h${i}`, data: { n: i } })
    for (let i = 0; i < 5; i++) burst.push(await createToExec(b.nb.url, b.key))
    await b.nb.services.events.settled()
    await b.nb.services.dispatcher.settled()
    queuedMs = performance.now() - t0
    await fetch(`${b.nb.url}/v1/channels/${ch.id}`, { method: 'DELETE', headers: h })
  }
  await b.close()
  hole.close()
  return { base, burst, queuedMs }
}

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0]
const onlyIdx = process.argv.indexOf('--only')
const only = onlyIdx > 0 ? process.argv[onlyIdx + 1] : ''
const want = (part: string) => !only || only === part

if (want('latency')) {
  const b = await boot()
  const lat = await latency(b.nb, b.key, b.team)
  await b.close()
  printTable(`event published → 100 SSE clients (ms; load average ${load()} on this host)`, [
    ['measured', 'samples', 'p50', 'p99', 'target p50'],
    ['received by the client process', lat.n, lat.p50.toFixed(2), lat.p99.toFixed(2), '≤ 5'],
    ['in nestbox: logged + written to all 100', 200, lat.s50.toFixed(2), lat.s99.toFixed(2), ''],
  ])
}
if (want('memory')) {
  const nbm = await memory('nestbox')
  // with V8's young generation held at 1 MiB, RSS shows what stays per stream rather than pages the young
  // generation touched while 1,000 requests were accepted
  const small = await memory('nestbox', ['--max-semi-space-size=1'])
  const bare = await memory('bare')
  const kib = (xs: number[]) => xs.map((x) => (x / 1024).toFixed(1))
  printTable(`RSS growth per idle SSE client, 1,000 connected (a fresh server process per round; KiB; load average ${load()})`, [
    ['server', ...nbm.per.map((_, i) => `round ${i + 1}`), 'median', 'target'],
    ['nestbox RSS', ...kib(nbm.per), (median(nbm.per) / 1024).toFixed(1), '≤ 20'],
    ['nestbox JS heap', ...kib(nbm.heap), (median(nbm.heap) / 1024).toFixed(1), ''],
    ['nestbox RSS, --max-semi-space-size=1', ...kib(small.per), (median(small.per) / 1024).toFixed(1), '≤ 20'],
    ['bare node:http RSS (control)', ...kib(bare.per), (median(bare.per) / 1024).toFixed(1), ''],
    ['bare node:http JS heap', ...kib(bare.heap), (median(bare.heap) / 1024).toFixed(1), ''],
  ])
}
if (want('channels')) {
  const dc = await deadChannel()
  printTable('capsule create → first exec (ms), without channels vs right after 10,000 events queued for a dead channel', [
    ['run', 'samples', 'p50', 'ratio', 'target'],
    ['no channels', dc.base.length, median(dc.base).toFixed(1), '1.00', ''],
    ['dead channel + burst', dc.burst.length, median(dc.burst).toFixed(1), (median(dc.burst) / median(dc.base)).toFixed(2), '≤ 1.10'],
  ])
  console.log(`(10,000 events logged and their deliveries queued within ${dc.queuedMs.toFixed(0)} ms of the burst, last round)`)
}
process.exit(0)
