/**
 * Foundation benchmark (issue 2): the single executable's start time to its first
 * healthy answer, its idle resident memory, and GET /health/liveliness throughput
 * with 32 connections next to a bare @hono/node-server hello-world measured in the
 * same run. Builds bin/nestbox first if it is missing.
 *
 *   node test/bench/foundation.ts [--rounds N] [--load-rounds N] [--seconds S]
 *
 * Throughput is measured in back-to-back pairs (baseline, then nestbox) and the
 * ratio is the median of the pairs' ratios, so load from other processes on a
 * shared machine hits both sides of a pair alike. The servers' CPU time per
 * request is reported too: it moves far less with background load than req/s.
 *
 * Load comes from wrk (Debian package, bin/deps.sh --test): a C load generator in
 * its own process, so its own CPU cost stays small next to the servers' on a shared
 * 2-core machine, which a Node-based generator would not.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, haveWrk, load, median, memoryMb, printTable, startProcess, waitHealthy, wrk, type Proc } from './lib/measure.ts'

const root = new URL('../..', import.meta.url).pathname
const binary = join(root, 'bin', 'nestbox')
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}
const ROUNDS = arg('rounds', 7)
const LOAD_ROUNDS = arg('load-rounds', 6)
const LOAD_SECONDS = arg('seconds', 3)
const CONNECTIONS = 32
const TARGET = { startMs: 250, rssMb: 90, ratio: 0.8 }

if (!haveWrk()) {
  console.error('wrk is not installed: run bin/deps.sh --test (Debian package wrk)')
  process.exit(1)
}
if (!existsSync(binary)) {
  console.log('bin/nestbox missing: building it (npm run build)')
  const b = spawnSync(process.execPath, [join(root, 'build.ts')], { stdio: 'inherit' })
  if (b.status !== 0) process.exit(1)
}

const work = mkdtempSync(join(tmpdir(), 'nestbox-bench-'))
// Run a copy, as bin/install.sh installs one. The file the build has just written sits in the
// page cache in large folios, and fault-around then maps ~15 MB more of it into every process
// than a copied (or read back after eviction) executable gets: that is the build's artefact,
// not what an installed nestbox costs.
const installed = join(work, 'nestbox')
copyFileSync(binary, installed)
const env = { PATH: '/usr/bin:/bin', HOME: work }
const serveArgs = (dataDir: string, port: number) => ['serve', '--data-dir', dataDir, '--port', String(port), '--host', '127.0.0.1']

/** Starts the executable and times it to its first 200 from /health/liveliness. */
async function timedStart(dataDir: string): Promise<{ ms: number; proc: Proc; port: number }> {
  const port = await freePort()
  const t0 = performance.now()
  const proc = startProcess(installed, serveArgs(dataDir, port), { env, logFile: join(work, 'nestbox.log') })
  const ms = await waitHealthy(`http://127.0.0.1:${port}/health/liveliness`, t0)
  return { ms, proc, port }
}

const firstStart: number[] = []
const restart: number[] = []
const idleRss: number[] = []
const idlePrivate: number[] = []
try {
  for (let i = 0; i < ROUNDS; i++) {
    // First start: empty data dir, so migrations run and the admin is created.
    const dataDir = join(work, `data-${i}`)
    const cold = await timedStart(dataDir)
    firstStart.push(cold.ms)
    await cold.proc.stop()
    // Restart on the same data, the usual case; then let it sit idle and read its memory.
    const warm = await timedStart(dataDir)
    restart.push(warm.ms)
    await new Promise((r) => setTimeout(r, 1000))
    const mem = memoryMb(warm.proc.child.pid!)
    idleRss.push(mem.rss)
    idlePrivate.push(mem.private)
    const code = await warm.proc.stop()
    if (code !== 0) throw new Error(`nestbox exited ${code} on SIGTERM`)
  }

  const helloPort = await freePort()
  const hello = startProcess(process.execPath, [join(root, 'test/bench/lib/hello-hono.ts'), String(helloPort)])
  const nb = await timedStart(join(work, 'data-0'))
  const helloUrl = `http://127.0.0.1:${helloPort}/health/liveliness`
  const nbUrl = `http://127.0.0.1:${nb.port}/health/liveliness`
  await waitHealthy(helloUrl, performance.now())
  const hello_: Array<{ rps: number; cpuUsPerReq: number }> = []
  const nb_: Array<{ rps: number; cpuUsPerReq: number }> = []
  try {
    // Warm both JITs first.
    await wrk(helloUrl, { connections: CONNECTIONS, seconds: 2 })
    await wrk(nbUrl, { connections: CONNECTIONS, seconds: 2 })
    for (let i = 0; i < LOAD_ROUNDS; i++) {
      hello_.push(await load(helloUrl, hello.child.pid!, { connections: CONNECTIONS, seconds: LOAD_SECONDS }))
      nb_.push(await load(nbUrl, nb.proc.child.pid!, { connections: CONNECTIONS, seconds: LOAD_SECONDS }))
    }
  } finally {
    await hello.stop()
    await nb.proc.stop()
  }
  const helloRps = hello_.map((r) => r.rps)
  const nbRps = nb_.map((r) => r.rps)
  const helloCpu = hello_.map((r) => r.cpuUsPerReq)
  const nbCpu = nb_.map((r) => r.cpuUsPerReq)
  const pairRatios = nb_.map((r, i) => r.rps / hello_[i].rps)
  const cpuRatios = nb_.map((r, i) => hello_[i].cpuUsPerReq / r.cpuUsPerReq)

  const ratio = median(pairRatios)
  const mark = (ok: boolean) => (ok ? 'yes' : 'MISSED')
  const r0 = (n: number) => n.toFixed(0)
  printTable(`foundation: medians (start/memory over ${ROUNDS} rounds, load over ${LOAD_ROUNDS} × ${LOAD_SECONDS} s, wrk -c${CONNECTIONS} -t1)`, [
    ['metric', 'median', 'min', 'max', 'target', 'met'],
    ['binary start → first healthy answer, restart (ms)', r0(median(restart)), r0(Math.min(...restart)), r0(Math.max(...restart)), `≤ ${TARGET.startMs}`, mark(median(restart) <= TARGET.startMs)],
    ['binary start → first healthy answer, first start (ms)', r0(median(firstStart)), r0(Math.min(...firstStart)), r0(Math.max(...firstStart)), `≤ ${TARGET.startMs}`, mark(median(firstStart) <= TARGET.startMs)],
    ['idle RSS of nestbox serve (MB)', median(idleRss).toFixed(1), Math.min(...idleRss).toFixed(1), Math.max(...idleRss).toFixed(1), `≤ ${TARGET.rssMb}`, mark(median(idleRss) <= TARGET.rssMb)],
    ['  of which private (the rest: the executable, mapped)', median(idlePrivate).toFixed(1), Math.min(...idlePrivate).toFixed(1), Math.max(...idlePrivate).toFixed(1), '', ''],
    ['GET /health/liveliness, bare @hono/node-server (req/s)', r0(median(helloRps)), r0(Math.min(...helloRps)), r0(Math.max(...helloRps)), 'baseline', ''],
    ['GET /health/liveliness, nestbox executable (req/s)', r0(median(nbRps)), r0(Math.min(...nbRps)), r0(Math.max(...nbRps)), '', ''],
    ['throughput ratio nestbox / bare hono (median of pairs)', ratio.toFixed(2), Math.min(...pairRatios).toFixed(2), Math.max(...pairRatios).toFixed(2), `≥ ${TARGET.ratio}`, mark(ratio >= TARGET.ratio)],
    ['server CPU per request, bare hono (µs)', median(helloCpu).toFixed(1), Math.min(...helloCpu).toFixed(1), Math.max(...helloCpu).toFixed(1), '', ''],
    ['server CPU per request, nestbox (µs)', median(nbCpu).toFixed(1), Math.min(...nbCpu).toFixed(1), Math.max(...nbCpu).toFixed(1), '', ''],
    ['CPU-cost ratio bare / nestbox (median of pairs)', median(cpuRatios).toFixed(2), Math.min(...cpuRatios).toFixed(2), Math.max(...cpuRatios).toFixed(2), '', ''],
  ])
} finally {
  rmSync(work, { recursive: true, force: true })
}
