/**
 * Local-agent tunnel benchmark (issue 14), each figure with its baseline from
 * the same run. nestbox runs in this process; the agent (`nestbox agent
 * connect`) and the local service are child processes; wrk and curl are the
 * clients (so the clients' cost stays off nestbox):
 *   - p50 of one keep-alive connection through the subdomain → tunnel → agent →
 *     service vs straight to the service (added ≤ 2 ms);
 *   - a 256 MiB download through the tunnel vs straight (≥ 0.5×), and nestbox's
 *     RSS growth meanwhile (< 64 MiB);
 *   - beside it the floor: the same download through one, and through two in
 *     series, plain Node TCP pipes (lib/pipe-proxy.ts), no parsing or framing.
 *     The tunnel has two Node processes carrying every byte (nestbox and the
 *     agent), so the two-pipe rate bounds what it can reach here. And through
 *     two C relays that copy (lib/join-relay.c copy) in series: what even a
 *     native data path with two hops would reach.
 * Usage: node test/bench/tunnel.ts [--quick]
 *
 * 2026-11-26, 2 cores at load average ~2-3, same state back to back: p50 +0.49 ms;
 * 359 MiB/s through vs 2585 MiB/s direct (0.14, target 0.5 not met; 228 MiB/s,
 * 0.09, before the tunnel's writes were batched per poll phase); RSS +17-61 MiB.
 * Per 256 MiB the agent and nestbox each still spend ~0.8-1 s of CPU (a plain
 * Node pipe proxy ~0.35 s): the largest part of nestbox's is full GCs V8 runs
 * for the 64 KiB buffers Node allocates per socket read (256 MiB of them per
 * download, plus ws's copies of frames that span two reads). The figures swing
 * 2-3x between runs when other work shares the 2 cores.
 * Later the same day, with the floor rows: tunnel 0.09, one Node pipe 0.29-0.37,
 * two in series 0.21-0.28, two C copying relays 0.44 (of 1538-2156 MiB/s
 * direct): even one hop of Node that only forwards bytes, or two in C, stays
 * below the 0.5 target on this machine.
 */
import { spawn } from 'node:child_process'
import { get } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestNestbox } from '../harness.ts'
import { Browser } from '../identity/helpers.ts'
import { agentCode, spawnAgent } from '../tunnel/agent-helpers.ts'
import { buildJoinRelay } from './lib/join-relay.ts'
import { freePort, median, printTable, startProcess, waitHealthy, type Proc } from './lib/measure.ts'

const quick = process.argv.includes('--quick')
const SECONDS = quick ? 2 : 5
const ROUNDS = quick ? 3 : 5
const MiB = 1024 * 1024
const SIZE = 256 * MiB

const run = (cmd: string, args: string[]) =>
  new Promise<string>((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.on('error', reject)
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))))
  })
const wrkP50 = async (url: string, headers: string[]) => {
  const out = await run('wrk', ['-t1', '-c1', `-d${SECONDS}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url])
  const m = /50%\s+([\d.]+)(us|ms|s)/.exec(out)
  if (!m) throw new Error(`wrk output not understood:\n${out}`)
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1)
}
/** curl's download rate in MiB/s. */
const curlRate = async (url: string, headers: string[]) => Number(await run('curl', ['-sf', '-o', '/dev/null', '-w', '%{speed_download}', ...headers.flatMap((h) => ['-H', h]), url])) / MiB

// the local service: "ok" at /, n zero bytes at /bytes?n= (written with backpressure)
const port = await freePort()
const service = spawn(process.execPath, ['-e', `
  const zero = Buffer.alloc(64 * 1024)
  require('http').createServer((q, s) => {
    const n = Number(new URL(q.url, 'http://x').searchParams.get('n') || 0)
    if (!n) return s.end('ok')
    s.writeHead(200, { 'content-length': n })
    let left = n
    const pump = () => { while (left > 0) { const c = left >= zero.length ? zero : zero.subarray(0, left); left -= c.length; if (!s.write(c)) return s.once('drain', pump) } s.end() }
    pump()
  }).listen(${port}, '127.0.0.1')`], { stdio: 'inherit' })
process.on('exit', () => service.kill())
// the floors: one plain Node pipe in front of the service, a second in front of that; two C relays the same way
const pipeProxy = new URL('./lib/pipe-proxy.ts', import.meta.url).pathname
const relay = buildJoinRelay()
const floorProcs: Proc[] = []
/** A chain of hops in front of the service; the port of its last one. */
const chain = async (hop: (listen: number, target: number) => Proc, hops: number) => {
  let target = port
  for (let i = 0; i < hops; i++) {
    const listen = await freePort()
    floorProcs.push(hop(listen, target))
    target = listen
  }
  await waitHealthy(`http://127.0.0.1:${target}/`, performance.now())
  return target
}
const nodePipe = (listen: number, target: number) => startProcess(process.execPath, [pipeProxy, String(listen), String(target)])
const cRelay = (listen: number, target: number) => startProcess(relay, ['copy', String(listen), String(target)])
const floors = [
  { what: 'one plain Node TCP pipe', port: await chain(nodePipe, 1), rates: [] as number[] },
  { what: 'two plain Node TCP pipes in series', port: await chain(nodePipe, 2), rates: [] as number[] },
  { what: 'two C copying relays in series', port: await chain(cRelay, 2), rates: [] as number[] },
]

const nb = await startTestNestbox({ set: { baseDomain: 'box.test' } })
const dir = mkdtempSync(join(tmpdir(), 'nestbox-bench-agent-'))
const wid = (await (await nb.api('/api/workspaces')).json())[0].id
const agent = spawnAgent(['connect', '--server', nb.url, '--code', await agentCode(nb, wid), '--opencode-port', String(port), '--registry', join(dir, 'agents.json')])
const sandboxId = /registered local agent (\S+)/.exec(await agent.waitFor(/registered local agent/))![1]
await agent.waitFor(/tunnel connected/)

// enter the sandbox's subdomain as the admin would from the browser
const admin = new Browser(nb.url)
await admin.post('/api/auth/login', { username: nb.bootstrap.admin_email, password: nb.bootstrap.admin_password })
const entry = new URL((await (await admin.get(`/api/sandboxes/${sandboxId}`)).json()).opencode_url)
// (fetch would not send our Host header)
const setCookie = await new Promise<string[]>((resolve, reject) =>
  get(nb.url + entry.pathname + entry.search, { headers: { host: entry.host } }, (r) => (r.resume(), resolve(r.headers['set-cookie'] ?? []))).on('error', reject),
)
if (!setCookie.length) throw new Error('the sandbox entry set no cookie')
const cookie = setCookie[0].split(';')[0]
const via = [`Host: ${entry.host}`, `Cookie: ${cookie}`]
if ((await run('curl', ['-sf', ...via.flatMap((h) => ['-H', h]), nb.url + '/'])) !== 'ok') throw new Error('the tunnel does not answer')

const direct: number[] = []
const tunneled: number[] = []
for (let i = 0; i < ROUNDS; i++) {
  direct.push(await wrkP50(`http://127.0.0.1:${port}/`, []))
  tunneled.push(await wrkP50(nb.url + '/', via))
}
const [d, t] = [median(direct), median(tunneled)]

const directRate: number[] = []
const tunnelRate: number[] = []
let growth = 0
for (let i = 0; i < (quick ? 1 : 3); i++) {
  directRate.push(await curlRate(`http://127.0.0.1:${port}/bytes?n=${SIZE}`, []))
  for (const f of floors) f.rates.push(await curlRate(`http://127.0.0.1:${f.port}/bytes?n=${SIZE}`, []))
  global.gc?.()
  const before = process.memoryUsage.rss()
  let peak = before
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20)
  tunnelRate.push(await curlRate(`${nb.url}/bytes?n=${SIZE}`, via))
  clearInterval(sampler)
  growth = Math.max(growth, peak - before)
}
const [dr, tr] = [median(directRate), median(tunnelRate)]

printTable('local-agent tunnel (loopback)', [
  ['measure', 'through the tunnel', 'baseline', 'ratio / added', 'target'],
  ['p50, one keep-alive connection (wrk -c1)', `${t.toFixed(3)} ms`, `${d.toFixed(3)} ms direct`, `+${(t - d).toFixed(3)} ms`, '≤ +2 ms'],
  ['256 MiB download (curl)', `${tr.toFixed(0)} MiB/s`, `${dr.toFixed(0)} MiB/s direct`, (tr / dr).toFixed(2), '≥ 0.5'],
  ["nestbox's RSS growth during the download", `${(growth / MiB).toFixed(1)} MiB`, '', '', '< 64 MiB'],
  ...floors.map((f) => [`floor: 256 MiB through ${f.what}`, `${median(f.rates).toFixed(0)} MiB/s`, `${dr.toFixed(0)} MiB/s direct`, (median(f.rates) / dr).toFixed(2), '']),
])

await agent.stop()
service.kill()
for (const p of floorProcs) await p.stop()
await nb.close()
rmSync(dir, { recursive: true, force: true })
