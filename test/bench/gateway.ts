/**
 * LLM gateway benchmark (issue 11). A fake OpenAI upstream (its own process,
 * answering at once) and nestbox (its own process, production logging) on
 * loopback; the client is this process (fixed-rate runs) or wrk (saturation).
 *
 *  1. overhead at a fixed 300 req/s, non-streaming: latency through the gateway
 *     minus latency straight to the upstream (p50, p99); targets ≤ 0.5 / ≤ 2 ms;
 *     beside it a bare Node proxy (lib/bare-proxy.ts: node:http + undici, no
 *     gateway logic), the floor any gateway in Node pays on this machine;
 *  2. streaming time to first byte added (p50), target ≤ 1 ms;
 *  3. saturation throughput through the gateway / direct (wrk, 32 connections),
 *     target ≥ 0.6, with the gateway's CPU per request, and the bare proxy's;
 *  4. RSS growth over 200,000 requests with a virtual key carrying rpm/tpm
 *     limits and a budget, spend logging on (target ≤ 20 MB past warm-up);
 *  5. RSS per open stream with 1,000 concurrent streams.
 *
 * Each table is followed by the load average (the machine is shared).
 *
 *   node test/bench/gateway.ts [--requests N] [--seconds S] [--streams N]
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { cpuMs, freePort, haveWrk, median, memoryMb, pct, printTable, startProcess, waitHealthy } from './lib/measure.ts'

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}
const TOTAL = arg('requests', 200_000)
const SECONDS = arg('seconds', 5)
const STREAMS = arg('streams', 1000)
const RATE = 300
if (!haveWrk()) {
  console.error('wrk is not installed: run bin/deps.sh --test (Debian package wrk)')
  process.exit(1)
}

const root = new URL('../../', import.meta.url).pathname
const agent = new http.Agent({ keepAlive: true, maxSockets: 2000 })
const BODY = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'hello' }] })
const STREAM_BODY = JSON.stringify({ model: 'bench', stream: true, messages: [{ role: 'user', content: 'hello' }] })

/** One POST; resolves with ms to the first body byte and ms to the end, and the gateway's own overhead header when present. */
function post(url: string, body: string, key: string, onFirst?: () => void): Promise<{ first: number; total: number; status: number; overhead: number }> {
  const t0 = performance.now()
  return new Promise((res, rej) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'content-length': Buffer.byteLength(body) } }, (r) => {
      let first = 0
      r.on('data', () => {
        if (!first) {
          first = performance.now() - t0
          onFirst?.()
        }
      })
      r.on('end', () => res({ first, total: performance.now() - t0, status: r.statusCode ?? 0, overhead: Number(r.headers['x-litellm-overhead-duration-ms'] ?? NaN) }))
      r.on('error', rej)
    })
    req.on('error', rej)
    req.end(body)
  })
}

/** `rate` requests/s for `seconds`; latency from each request's scheduled start (no coordinated omission). */
async function fixedRate(url: string, body: string, key: string, seconds: number, rate: number): Promise<{ total: number[]; first: number[]; overhead: number[] }> {
  const n = Math.round(seconds * rate)
  const total: number[] = []
  const first: number[] = []
  const overhead: number[] = []
  const start = performance.now() + 50
  const pending: Promise<void>[] = []
  for (let i = 0; i < n; i++) {
    const at = start + (i * 1000) / rate
    const wait = at - performance.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    const late = performance.now() - at
    pending.push(
      post(url, body, key).then((r) => {
        if (r.status !== 200) throw new Error(`${url} answered ${r.status}`)
        total.push(r.total + Math.max(0, late))
        first.push(r.first + Math.max(0, late))
        if (!Number.isNaN(r.overhead)) overhead.push(r.overhead)
      }),
    )
  }
  await Promise.all(pending)
  return { total, first, overhead }
}

/** wrk POST load (lua script); resolves with requests/s and requests done. */
function wrkPost(url: string, body: string, key: string, o: { connections: number; seconds: number }): Promise<{ rps: number; requests: number }> {
  const script = join(dataDir, 'wrk-post.lua') // removed with the data directory at the end
  writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer ${key}"\n`)
  return new Promise((res, rej) => {
    const child = spawn('wrk', ['-t', '1', '-c', String(o.connections), '-d', `${o.seconds}s`, '-s', script, url], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('close', (code) => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
      const requests = Number(/(\d+) requests in/.exec(out)?.[1])
      if (code !== 0 || !rps || /Non-2xx|Socket errors/.test(out)) return rej(new Error(`wrk failed:\n${out}`))
      res({ rps, requests })
    })
  })
}

const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-bench-gateway-'))
const upPort = await freePort()
const gwPort = await freePort()
const barePort = await freePort()
const up = startProcess(process.execPath, [join(root, 'test/bench/lib/fake-llm.ts'), String(upPort)])
const MASTER = 'sk-bench-master-key-000'
const upstream = `http://127.0.0.1:${upPort}/v1`
const modelList = [
  { model_name: 'bench', litellm_params: { model: 'openai/bench', api_base: upstream, api_key: 'sk-upstream' }, model_info: { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 } },
  { model_name: 'slow', litellm_params: { model: 'openai/slow', api_base: upstream, api_key: 'sk-upstream' } },
]
const gw = startProcess(process.execPath, [join(root, 'main.ts'), 'serve', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(gwPort), '--set', `gateway.masterKey=${MASTER}`, '--set', `gateway.modelList=${JSON.stringify(modelList)}`], { env: { ...process.env, NESTBOX_LOG_LEVEL: 'info' } as Record<string, string> })
const bareProxy = startProcess(process.execPath, [join(root, 'test/bench/lib/bare-proxy.ts'), String(barePort), `${upstream}/chat/completions`])
const bare = `http://127.0.0.1:${barePort}/`
const load = () => console.log(`load average: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`)
const gwUrl = `http://127.0.0.1:${gwPort}`
const direct = `${upstream}/chat/completions`
const through = `${gwUrl}/v1/chat/completions`

try {
  // a start takes seconds more on a loaded machine
  await waitHealthy(`${gwUrl}/health/liveliness`, performance.now(), 120_000)
  await waitHealthy(bare, performance.now(), 20_000)
  const pid = gw.child.pid!
  const key = (await (await fetch(`${gwUrl}/key/generate`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify({ rpm_limit: 10_000_000, tpm_limit: 1_000_000_000, max_budget: 1_000_000, max_parallel_requests: 10_000 }) })).json()).key as string

  // Warm both paths (JIT, connection pools).
  await fixedRate(direct, BODY, 'x', 2, RATE)
  await fixedRate(through, BODY, key, 2, RATE)
  await fixedRate(bare, BODY, 'x', 2, RATE)

  // 1. Overhead at a fixed rate, rounds alternating so drift on the shared machine cancels out.
  const d: number[] = []
  const g: number[] = []
  const own: number[] = []
  const bp: number[] = []
  const viaGateway = () => fixedRate(through, BODY, key, SECONDS, RATE).then((r) => (g.push(...r.total), own.push(...r.overhead)))
  const straight = () => fixedRate(direct, BODY, 'x', SECONDS, RATE).then((r) => d.push(...r.total))
  const viaBare = () => fixedRate(bare, BODY, 'x', SECONDS, RATE).then((r) => bp.push(...r.total))
  for (let i = 0; i < 4; i++) for (const run of i % 2 ? [viaGateway, viaBare, straight] : [straight, viaBare, viaGateway]) await run()
  printTable(`1. Non-streaming latency at ${RATE} req/s (${d.length} requests each, ms)`, [
    ['path', 'p50', 'p99'],
    ['direct to upstream', median(d).toFixed(3), pct(d, 99).toFixed(3)],
    ['through gateway (virtual key, limits, spend log)', median(g).toFixed(3), pct(g, 99).toFixed(3)],
    ['added by the gateway', (median(g) - median(d)).toFixed(3), (pct(g, 99) - pct(d, 99)).toFixed(3)],
    ['added by a bare Node proxy (node:http + undici, no gateway logic: the floor)', (median(bp) - median(d)).toFixed(3), (pct(bp, 99) - pct(d, 99)).toFixed(3)],
    ["gateway's own work (x-litellm-overhead-duration-ms: handler entry to answer, minus upstream wait)", median(own).toFixed(3), pct(own, 99).toFixed(3)],
  ])
  console.log(`targets: p50 added ≤ 0.5 ms → ${median(g) - median(d) <= 0.5 ? 'met' : 'NOT met'}; p99 added ≤ 2 ms → ${pct(g, 99) - pct(d, 99) <= 2 ? 'met' : 'NOT met'}`)
  load()

  // 2. Streaming time to first byte.
  const sd: number[] = []
  const sg: number[] = []
  for (let i = 0; i < 2; i++) {
    sd.push(...(await fixedRate(direct, STREAM_BODY, 'x', SECONDS, RATE)).first)
    sg.push(...(await fixedRate(through, STREAM_BODY, key, SECONDS, RATE)).first)
  }
  printTable(`2. Streaming time to first byte at ${RATE} req/s (ms)`, [
    ['path', 'p50', 'p99'],
    ['direct', median(sd).toFixed(3), pct(sd, 99).toFixed(3)],
    ['through gateway', median(sg).toFixed(3), pct(sg, 99).toFixed(3)],
    ['added', (median(sg) - median(sd)).toFixed(3), (pct(sg, 99) - pct(sd, 99)).toFixed(3)],
  ])
  console.log(`target: TTFB p50 added ≤ 1 ms → ${median(sg) - median(sd) <= 1 ? 'met' : 'NOT met'}`)
  load()

  // 3. Saturation throughput (wrk, 32 connections), alternating rounds; the gateway's CPU per request.
  const ratios: number[] = []
  const rd: number[] = []
  const rg: number[] = []
  const cpu: number[] = []
  const upCpu: number[] = []
  const rb: number[] = []
  const bareCpu: number[] = []
  const bareRatios: number[] = []
  for (let i = 0; i < 3; i++) {
    const a = await wrkPost(direct, BODY, 'x', { connections: 32, seconds: SECONDS })
    const c0 = cpuMs(pid)
    const u0 = cpuMs(up.child.pid!)
    const b = await wrkPost(through, BODY, key, { connections: 32, seconds: SECONDS })
    cpu.push(((cpuMs(pid) - c0) * 1000) / b.requests)
    upCpu.push(((cpuMs(up.child.pid!) - u0) * 1000) / b.requests)
    rd.push(a.rps)
    rg.push(b.rps)
    ratios.push(b.rps / a.rps)
    const p0 = cpuMs(bareProxy.child.pid!)
    const p = await wrkPost(bare, BODY, 'x', { connections: 32, seconds: SECONDS })
    bareCpu.push(((cpuMs(bareProxy.child.pid!) - p0) * 1000) / p.requests)
    rb.push(p.rps)
    bareRatios.push(p.rps / a.rps)
  }
  printTable(`3. Saturation, wrk 32 connections, ${SECONDS} s rounds (client, gateway and upstream share the cores)`, [
    ['path', 'req/s (median)', 'CPU µs/req'],
    ['direct to upstream', Math.round(median(rd)), `${median(upCpu).toFixed(0)} (upstream)`],
    ['through gateway', Math.round(median(rg)), `${median(cpu).toFixed(0)} (gateway)`],
    ['through a bare Node proxy (the floor)', Math.round(median(rb)), `${median(bareCpu).toFixed(0)} (proxy)`],
    ['ratio gateway / direct', median(ratios).toFixed(2), ''],
    ['ratio bare proxy / direct', median(bareRatios).toFixed(2), ''],
  ])
  console.log(`target: ratio ≥ 0.6 → ${median(ratios) >= 0.6 ? 'met' : 'NOT met'}`)
  load()

  // 4. RSS over TOTAL requests with a keyed, limited, budgeted key and spend logging.
  const warm = Math.round(TOTAL / 10)
  let done = 0
  const runRequests = async (n: number) => {
    let next = 0
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < n) {
          next++
          const r = await post(through, BODY, key)
          if (r.status !== 200) throw new Error(`status ${r.status}`)
          done++
        }
      }),
    )
  }
  await runRequests(warm)
  await new Promise((r) => setTimeout(r, 1500)) // let the last spend batch land
  const rss0 = memoryMb(pid)
  await runRequests(TOTAL - warm)
  await new Promise((r) => setTimeout(r, 1500))
  const rss1 = memoryMb(pid)
  printTable(`4. Gateway RSS over ${done} requests (virtual key with rpm/tpm/parallel limits and a budget, spend logs written)`, [
    ['point', 'RSS MB', 'private MB'],
    [`after warm-up (${warm})`, rss0.rss.toFixed(1), rss0.private.toFixed(1)],
    [`after ${done}`, rss1.rss.toFixed(1), rss1.private.toFixed(1)],
    ['growth', (rss1.rss - rss0.rss).toFixed(1), (rss1.private - rss0.private).toFixed(1)],
  ])
  console.log(`target: growth ≤ 20 MB → ${rss1.rss - rss0.rss <= 20 ? 'met' : 'NOT met'}`)
  load()

  // 5. Open streams.
  const before = memoryMb(pid)
  const streams: http.ClientRequest[] = []
  let started = 0
  await new Promise<void>((resolve, reject) => {
    for (let i = 0; i < STREAMS; i++) {
      const body = JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'x' }] })
      const req = http.request(through, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${MASTER}`, 'content-length': Buffer.byteLength(body) } }, (r) => {
        r.once('data', () => {
          if (++started === STREAMS) resolve()
        })
        r.on('error', () => {})
      })
      req.on('error', reject)
      req.end(body)
      streams.push(req)
    }
  })
  await new Promise((r) => setTimeout(r, 2500)) // a few chunks flow on every stream
  const open = memoryMb(pid)
  for (const s of streams) s.destroy()
  printTable(`5. ${STREAMS} concurrent open streams through the gateway`, [
    ['point', 'RSS MB'],
    ['before', before.rss.toFixed(1)],
    ['all open', open.rss.toFixed(1)],
    ['per stream (KB)', (((open.rss - before.rss) * 1024) / STREAMS).toFixed(1)],
  ])
} finally {
  agent.destroy()
  await gw.stop()
  await up.stop()
  await bareProxy.stop()
  rmSync(dataDir, { recursive: true, force: true })
}
