/**
 * Identity benchmark (issue 3), all measured in one run against one in-process
 * nestbox, with wrk (Debian package, bin/deps.sh --test) as the load generator in
 * its own process:
 *
 *  1. GET /v1/me with an API key vs unauthenticated GET /health/liveliness
 *     (requests/s, 32 connections, rounds alternate; target ratio ≥ 0.8);
 *  2. password login latency (scrypt) p50/p90, sequential;
 *  3. /health/liveliness latency idle, with 4 logins in flight (from another
 *     process), and — as a control — with the same scrypt work done synchronously
 *     on the event loop; plus the event-loop delay during the logins. scrypt runs
 *     in libuv's pool, so health stays fast.
 *
 *   node test/bench/identity.ts [--rounds N] [--seconds S]
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes, scryptSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { loadConfig } from '../../lib/core/config/index.ts'
import { createLogger } from '../../lib/core/logger.ts'
import { startNestbox } from '../../lib/http/server.ts'
import { pct } from './lib/measure.ts'

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}
const ROUNDS = arg('rounds', 7)
const SECONDS = arg('seconds', 3)
const TARGET_RATIO = 0.8

if (spawnSync('wrk', ['--version']).error) {
  console.error('wrk is not installed: run bin/deps.sh --test (Debian package wrk)')
  process.exit(1)
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function table(title: string, rows: Array<Array<string | number>>) {
  const cells = rows.map((r) => r.map(String))
  const w = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)))
  const line = (r: string[]) => r.map((c, i) => (i ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ')
  console.log(`\n${title}\n${line(cells[0])}\n${w.map((n) => '-'.repeat(n)).join('  ')}`)
  for (const r of cells.slice(1)) console.log(line(r))
}

const toMs = (v: string, unit: string) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit]

/** wrk run → requests/s and latency p50/p99 (ms). Any non-2xx answer fails the run. */
function wrk(url: string, o: { connections: number; seconds: number; headers?: Record<string, string> }): Promise<{ rps: number; p50: number; p99: number; cpuUs: number }> {
  const args = ['-t', '1', '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency']
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`)
  return new Promise((res, rej) => {
    const cpu0 = process.cpuUsage()
    const child = spawn('wrk', [...args, url], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('close', (code) => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
      const lat = (p: string) => {
        const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out)
        return m ? toMs(m[1], m[2]) : NaN
      }
      if (code !== 0 || !rps || /Non-2xx or 3xx responses/.test(out)) return rej(new Error(`wrk failed:\n${out}`))
      const cpu = process.cpuUsage(cpu0)
      const requests = Number(/(\d+) requests in/.exec(out)?.[1])
      res({ rps, p50: lat('50'), p99: lat('99'), cpuUs: (cpu.user + cpu.system) / requests })
    })
  })
}

/** Runs `n` sequential login loops in a child process for `seconds`; resolves to the number of logins done. */
function loginLoad(url: string, email: string, password: string, n: number, seconds: number): Promise<number> {
  const script = `
    const end = Date.now() + ${seconds * 1000}
    let done = 0
    const body = JSON.stringify({ email: process.env.E, password: process.env.P })
    await Promise.all(Array.from({ length: ${n} }, async () => {
      while (Date.now() < end) {
        const r = await fetch(process.env.U + '/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        await r.arrayBuffer()
        if (r.status !== 200) throw new Error('login ' + r.status)
        done++
      }
    }))
    console.log(done)`
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, U: url, E: email, P: password }, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('close', (code) => (code === 0 ? res(Number(out.trim())) : rej(new Error(`login load exited ${code}`))))
  })
}

const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-bench-identity-'))
// Production-like: every request is logged as a JSON line (written nowhere, so the terminal is not the bottleneck).
const log = createLogger({ level: 'info', write: () => {} })
const config = loadConfig({
  argv: ['--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0', '--set', 'identity.rateLimit.loginPerIp=1000000', '--set', 'identity.rateLimit.loginPerAccount=1000000'],
  env: {},
})
const nb = await startNestbox(config, { log })
const boot = Object.fromEntries(
  readFileSync(join(dataDir, 'bootstrap.txt'), 'utf8').split('\n').filter((l) => l.includes('=') && !l.startsWith('#')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
)

try {
  // 1. Throughput: API-key /v1/me vs health, alternating rounds.
  const me = await fetch(nb.url + '/v1/me', { headers: { 'x-api-key': boot.api_key } })
  if (me.status !== 200) throw new Error(`/v1/me answered ${me.status}`)
  await wrk(nb.url + '/health/liveliness', { connections: 32, seconds: 1 }) // warm-up
  await wrk(nb.url + '/v1/me', { connections: 32, seconds: 1, headers: { 'X-API-Key': boot.api_key } })
  const health: number[] = []
  const keyed: number[] = []
  const ratios: number[] = []
  const cpu = { health: [] as number[], keyed: [] as number[] }
  const runHealth = async () => {
    const r = await wrk(nb.url + '/health/liveliness', { connections: 32, seconds: SECONDS })
    health.push(r.rps)
    cpu.health.push(r.cpuUs)
  }
  const runKeyed = async () => {
    const r = await wrk(nb.url + '/v1/me', { connections: 32, seconds: SECONDS, headers: { 'X-API-Key': boot.api_key } })
    keyed.push(r.rps)
    cpu.keyed.push(r.cpuUs)
  }
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate the order and pair each round's two runs, so drift in the shared machine's load cancels out.
    if (i % 2) await runKeyed().then(runHealth)
    else await runHealth().then(runKeyed)
    ratios.push(keyed[i] / health[i])
  }
  const ratio = median(ratios)
  table(`Throughput (requests/s, ${ROUNDS} paired rounds × ${SECONDS} s, 32 connections)`, [
    ['endpoint', 'median', 'min', 'max', 'ratio (median of pairs)', 'server CPU µs/req'],
    ['GET /health/liveliness (no auth)', Math.round(median(health)), Math.round(Math.min(...health)), Math.round(Math.max(...health)), '1.00', median(cpu.health).toFixed(1)],
    ['GET /v1/me (X-API-Key)', Math.round(median(keyed)), Math.round(Math.min(...keyed)), Math.round(Math.max(...keyed)), `${ratio.toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`, median(cpu.keyed).toFixed(1)],
  ])
  // Server CPU per request is what the ratio converges to when the server is the bottleneck; it is far less sensitive to other load on a shared machine.
  console.log(`CPU-per-request ratio (health / keyed): ${(median(cpu.health) / median(cpu.keyed)).toFixed(2)}`)
  console.log(`target: ratio ≥ ${TARGET_RATIO} → ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}`)

  // 2. Login latency (sequential).
  const login = async () => {
    const t0 = performance.now()
    const r = await fetch(nb.url + '/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: boot.admin_email, password: boot.admin_password }) })
    await r.arrayBuffer()
    if (r.status !== 200) throw new Error(`login answered ${r.status}`)
    return performance.now() - t0
  }
  for (let i = 0; i < 3; i++) await login()
  const logins: number[] = []
  for (let i = 0; i < 30; i++) logins.push(await login())
  table('Password login (scrypt N=16384, r=8, p=1), 30 sequential', [
    ['metric', 'ms'],
    ['p50', median(logins).toFixed(1)],
    ['p90', pct(logins, 90).toFixed(1)],
  ])

  // 3. Health latency while logins run (from another process, so client work stays off the server's loop),
  //    next to a control where the same scrypt work runs synchronously on the server's event loop.
  const idle = await wrk(nb.url + '/health/liveliness', { connections: 4, seconds: 3 })
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const loadgen = loginLoad(nb.url, boot.admin_email, boot.admin_password, 4, 3.5)
  const busy = await wrk(nb.url + '/health/liveliness', { connections: 4, seconds: 3 })
  const done = await loadgen
  loop.disable()
  let stop = false
  const blocking = (async () => {
    while (!stop) {
      scryptSync('correct horse', randomBytes(16), 32, { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })
      await new Promise((r) => setImmediate(r))
    }
  })()
  const control = await wrk(nb.url + '/health/liveliness', { connections: 4, seconds: 3 })
  stop = true
  await blocking
  table('/health/liveliness latency, 4 connections, 3 s (ms)', [
    ['condition', 'p50', 'p99', 'req/s'],
    ['idle', idle.p50.toFixed(2), idle.p99.toFixed(2), Math.round(idle.rps)],
    [`4 concurrent logins (${done} done; scrypt in libuv's pool)`, busy.p50.toFixed(2), busy.p99.toFixed(2), Math.round(busy.rps)],
    ['control: scrypt on the event loop instead', control.p50.toFixed(2), control.p99.toFixed(2), Math.round(control.rps)],
  ])
  console.log(`event-loop delay during logins: p50 ${(loop.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(1)} ms (one scrypt takes ~${median(logins).toFixed(0)} ms; 2 shared cores)`)
} finally {
  await nb.close()
  rmSync(dataDir, { recursive: true, force: true })
}
