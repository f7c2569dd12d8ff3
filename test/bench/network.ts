/**
 * Capsule network benchmark (issue 10), every figure with its baseline from the
 * same run:
 *   - the port proxy (wrk, keep-alive, on the host), by path
 *     (/v1/capsules/{id}/ports/8000/, with an API key) and by host
 *     (8000-{id}.{baseDomain}, with a port token's cookie: the connection is
 *     handed to the capsule), vs the same requests made inside the capsule's
 *     namespace (wrk run inside), rounds interleaved;
 *   - a 256 MiB download by a capsule in mode internet from a server in a network
 *     namespace this bench makes, vs the same download from the host;
 *   - create → first exec p50 in modes none, nestbox, internet;
 *   - nestbox's RSS growth while 1 GiB streams through the port proxy, both forms.
 * Usage: node test/bench/network.ts [--quick]
 */
import { execFileSync, spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import { startTestNestbox } from '../harness.ts'
import { median, printTable } from './lib/measure.ts'

const quick = process.argv.includes('--quick')
const SECONDS = quick ? 3 : 8
const ROUNDS = quick ? 3 : 5
const N = quick ? 8 : 20

const BASE = 'bench.nestbox.test'
const nb = await startTestNestbox({ set: { baseDomain: BASE } })
const api = (path: string, init: RequestInit & { json?: unknown } = {}) => nb.api(path, init)
const create = async (body: unknown = {}) => (await (await api('/v1/capsules', { method: 'POST', json: body })).json()).id as string
const exec = async (id: string, cmd: string, timeoutMs = 120_000) => {
  const r = await api(`/v1/capsules/${id}/exec`, { method: 'POST', json: { cmd: 'sh', args: ['-c', cmd], timeout: Math.round(timeoutMs / 1000) } })
  return (await r.json()) as { stdout: string; stderr: string; exit_code: number }
}
const execOk = async (id: string) => {
  for (;;) {
    const r = await api(`/v1/capsules/${id}/exec`, { method: 'POST', json: { cmd: 'echo ok' } })
    if (r.status === 200 && (await r.json()).stdout === 'ok\n') return
    await new Promise((res) => setTimeout(res, 2))
  }
}
const destroy = (id: string) => api(`/v1/capsules/${id}`, { method: 'DELETE' })

/** wrk's requests/s and p50 latency (ms) from its --latency output. */
function parseWrk(out: string) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
  const m = /50%\s+([\d.]+)(us|ms|s)/.exec(out)
  const p50 = m ? Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1) : NaN
  if (!rps) throw new Error(`wrk output not understood:\n${out}`)
  return { rps, p50 }
}
/** A command's stdout, without blocking this process's event loop (nestbox serves from it). */
const run = (cmd: string, args: string[], cwd?: string) =>
  new Promise<string>((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.on('error', reject)
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))))
  })
const wrkHost = async (url: string, headers: string[], conns = 8) => parseWrk(await run('wrk', ['-t1', `-c${conns}`, `-d${SECONDS}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url]))

const rows: Array<Array<string | number>> = []

// ---- 1. port proxy vs inside the namespace -------------------------------------
{
  const id = await create({ network: 'none' })
  await execOk(id)
  // node from the host's /usr (seen read-only inside): a small keep-alive server
  await api(`/v1/capsules/${id}/exec`, { method: 'POST', json: { cmd: '/usr/bin/node', args: ['-e', "require('http').createServer((q,s)=>s.end('ok')).listen(8000,'127.0.0.1')"], background: true } })
  while ((await api(`/v1/capsules/${id}/ports/8000/`)).status !== 200) await new Promise((r) => setTimeout(r, 50))
  // throughput with 8 connections, latency with one (no queueing in either server)
  type Wrk = { rps: number; p50: number }
  const m = { direct: [] as Wrk[], path: [] as Wrk[], host: [] as Wrk[], direct1: [] as Wrk[], path1: [] as Wrk[], host1: [] as Wrk[] }
  const url = `${nb.url}/v1/capsules/${id}/ports/8000/`
  const token = (await (await api(`/v1/capsules/${id}/ports/8000/token`, { method: 'POST', json: { ttl_sec: 3600 } })).json()).token as string
  const hostHeaders = [`Host: 8000-${id}.${BASE}`, `Cookie: nestbox_port_token=${token}`]
  for (let i = 0; i < ROUNDS; i++) {
    m.direct.push(parseWrk((await exec(id, `wrk -t1 -c8 -d${SECONDS}s --latency http://127.0.0.1:8000/`)).stdout))
    m.path.push(await wrkHost(url, [`X-API-Key: ${nb.apiKey}`]))
    m.host.push(await wrkHost(`${nb.url}/`, hostHeaders))
    m.direct1.push(parseWrk((await exec(id, `wrk -t1 -c1 -d${SECONDS}s --latency http://127.0.0.1:8000/`)).stdout))
    m.path1.push(await wrkHost(url, [`X-API-Key: ${nb.apiKey}`], 1))
    m.host1.push(await wrkHost(`${nb.url}/`, hostHeaders, 1))
  }
  const med = (xs: Wrk[]) => ({ rps: median(xs.map((x) => x.rps)), p50: median(xs.map((x) => x.p50)) })
  const d = med(m.direct)
  const d1 = med(m.direct1)
  for (const [form, p, p1] of [['by host', med(m.host), med(m.host1)], ['by path', med(m.path), med(m.path1)]] as const) {
    rows.push([`port proxy ${form}: throughput (wrk -c8, keep-alive)`, `${p.rps.toFixed(0)} req/s`, `${d.rps.toFixed(0)} req/s inside`, (p.rps / d.rps).toFixed(2), '≥ 0.8'])
    rows.push([`port proxy ${form}: p50 latency (wrk -c1)`, `${p1.p50.toFixed(3)} ms`, `${d1.p50.toFixed(3)} ms inside`, `+${(p1.p50 - d1.p50).toFixed(3)} ms`, '≤ +1 ms'])
    rows.push([`port proxy ${form}: p50 latency (wrk -c8)`, `${p.p50.toFixed(3)} ms`, `${d.p50.toFixed(3)} ms inside`, `+${(p.p50 - d.p50).toFixed(3)} ms`, ''])
  }

  // ---- 4. 1 GiB through the proxy: nestbox's RSS -----------------------------
  await api(`/v1/capsules/${id}/exec`, {
    method: 'POST',
    json: { cmd: '/usr/bin/node', args: ['-e', "const b=Buffer.alloc(1<<20);require('http').createServer((q,s)=>{let n=1024;const w=()=>{while(n>0){n--;if(!s.write(b))return s.once('drain',w)}s.end()};w()}).listen(8001,'127.0.0.1')"], background: true },
  })
  while ((await api(`/v1/capsules/${id}/ports/8001/`, { method: 'HEAD' })).status !== 200) await new Promise((r) => setTimeout(r, 50))
  const token8001 = (await (await api(`/v1/capsules/${id}/ports/8001/token`, { method: 'POST', json: { ttl_sec: 3600 } })).json()).token as string
  // the client is curl in its own process: what grows here is nestbox alone
  for (const [form, args] of [
    ['by path', ['-H', `X-API-Key: ${nb.apiKey}`, `${nb.url}/v1/capsules/${id}/ports/8001/`]],
    ['by host', ['-H', `Host: 8001-${id}.${BASE}`, '-H', `X-API-Key: ${nb.apiKey}`, `${nb.url}/`]],
    ['by host, handed over', ['-H', `Host: 8001-${id}.${BASE}`, '-H', `Cookie: nestbox_port_token=${token8001}`, `${nb.url}/`]],
    // the first GiB also pays for one-time growth (heap, pools): the path form again, warm
    ['by path, again', ['-H', `X-API-Key: ${nb.apiKey}`, `${nb.url}/v1/capsules/${id}/ports/8001/`]],
  ]) {
    const rss0 = process.memoryUsage().rss
    let peak = rss0
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20)
    const t0 = performance.now()
    const bytes = Number(await run('curl', ['-s', '-o', '/dev/null', '-w', '%{size_download}', ...args]))
    clearInterval(timer)
    const secs = (performance.now() - t0) / 1000
    if (bytes !== 1 << 30) throw new Error(`got ${bytes} bytes`)
    rows.push([`1 GiB through the port proxy ${form}: RSS growth`, `${((peak - rss0) / 2 ** 20).toFixed(1)} MiB`, `${(1024 / secs).toFixed(0)} MiB/s`, '', '< 64 MiB'])
  }
  await destroy(id)
}

// ---- 2. internet download vs host -----------------------------------------------
{
  const NS = `nbb${process.pid}`
  const IF = `nbb${process.pid}`.slice(0, 15)
  const net = 200 + (process.pid % 50)
  const OUT = `10.${net}.9.2`
  const ip = (...a: string[]) => execFileSync('ip', a, { stdio: 'pipe' })
  ip('netns', 'add', NS)
  try {
    ip('link', 'add', IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS)
    ip('addr', 'add', `10.${net}.9.1/24`, 'dev', IF)
    ip('link', 'set', IF, 'up')
    ip('-n', NS, 'addr', 'add', `${OUT}/24`, 'dev', 'eth0')
    ip('-n', NS, 'link', 'set', 'eth0', 'up')
    ip('-n', NS, 'link', 'set', 'lo', 'up')
    const dir = `/tmp/nbb-${process.pid}`
    execFileSync('mkdir', ['-p', dir])
    execFileSync('truncate', ['-s', '256M', `${dir}/blob`])
    const server = spawn('ip', ['netns', 'exec', NS, '/usr/bin/python3', '-m', 'http.server', '--bind', OUT, '8080'], { cwd: dir, stdio: 'ignore' })
    try {
      for (let i = 0; i < 100; i++) {
        try {
          execFileSync('curl', ['-s', '-o', '/dev/null', `http://${OUT}:8080/`])
          break
        } catch {
          await new Promise((r) => setTimeout(r, 50))
        }
      }
      const id = await create({ network: 'internet' })
      await execOk(id)
      const curl = `curl -s -o /dev/null -w '%{speed_download}' http://${OUT}:8080/blob`
      const host: number[] = []
      const inside: number[] = []
      for (let i = 0; i < ROUNDS; i++) {
        host.push(Number(await run('sh', ['-c', curl])))
        inside.push(Number((await exec(id, curl)).stdout))
      }
      const h = median(host) / 2 ** 20
      const c = median(inside) / 2 ** 20
      rows.push(['256 MiB download, mode internet', `${c.toFixed(0)} MiB/s`, `${h.toFixed(0)} MiB/s host`, (c / h).toFixed(2), '≥ 0.5'])
      await destroy(id)
    } finally {
      server.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  } finally {
    ip('netns', 'del', NS)
  }
}

// ---- 3. create → first exec per mode -----------------------------------------------
for (const mode of ['none', 'nestbox', 'internet']) {
  const times: number[] = []
  for (let i = 0; i < N; i++) {
    const t0 = performance.now()
    const id = await create({ network: mode })
    await execOk(id)
    times.push(performance.now() - t0)
    await destroy(id)
  }
  rows.push([`create → first exec, mode ${mode}`, `${median(times).toFixed(1)} ms`, '', '', mode === 'nestbox' ? '≤ 60 ms (default mode)' : ''])
}

printTable(`capsule network (load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end)`, [['measure', 'result', 'baseline', 'ratio', 'target'], ...rows])
await nb.close()
