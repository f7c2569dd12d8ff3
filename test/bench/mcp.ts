/**
 * A tool call through nestbox's /mcp/ hub to a local HTTP MCP server vs the
 * same call made to that server directly, with the SDK's client, one call at a
 * time, alternating. Upstream, nestbox and this client are separate processes.
 * Target (issue 12): p50 added ≤ 1 ms.
 */
import { fork } from 'node:child_process'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { freePort, median, printTable } from './lib/measure.ts'

const N = Number(process.env.BENCH_MCP_CALLS ?? 2000)
const WARMUP = 300
const lib = new URL('./lib/', import.meta.url).pathname

const port = await freePort()
const upstream = fork(lib + 'mcp-upstream.ts', [String(port)], { stdio: 'inherit' })
await new Promise((r) => upstream.once('message', r))
const direct = `http://127.0.0.1:${port}/mcp`
const nestbox = fork(lib + 'mcp-nestbox.ts', [direct], { stdio: 'inherit', execArgv: process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_PROF] : [] })
const { url, key } = await new Promise<{ url: string; key: string }>((r) => nestbox.once('message', (m) => r(m as { url: string; key: string })))

async function client(u: string, headers: Record<string, string> = {}) {
  const c = new Client({ name: 'bench', version: '1.0.0' })
  await c.connect(new StreamableHTTPClientTransport(new URL(u), { requestInit: { headers } }))
  return c
}
const viaDirect = await client(direct)
const viaHub = await client(url + '/mcp/', { authorization: `Bearer ${key}` })
const time = async (c: Client, name: string) => {
  const t0 = performance.now()
  const r = await c.callTool({ name, arguments: { text: 'ping' } })
  const ms = performance.now() - t0
  if ((r as { isError?: boolean }).isError) throw new Error(`${name} failed: ${JSON.stringify(r)}`)
  return ms
}

for (let i = 0; i < WARMUP; i++) {
  await time(viaDirect, 'echo')
  await time(viaHub, 'bench-echo')
}
type Cpu = { user: number; system: number }
const cpuOf = (p: typeof nestbox) => new Promise<Cpu>((r) => { p.once('message', (m) => r((m as { cpu: Cpu }).cpu)); p.send({ cpu: true }) })
const cpuMs = (a: Cpu, b: Cpu) => (b.user - a.user + b.system - a.system) / 1000
const d: number[] = []
const h: number[] = []
for (let i = 0; i < N; i++) {
  d.push(await time(viaDirect, 'echo'))
  h.push(await time(viaHub, 'bench-echo'))
}
// CPU per call, which load on the machine hardly changes (unlike wall time): the hub's own work vs one MCP server's.
const [n0, u0] = [await cpuOf(nestbox), await cpuOf(upstream)]
for (let i = 0; i < N; i++) await time(viaHub, 'bench-echo')
const [n1, u1] = [await cpuOf(nestbox), await cpuOf(upstream)]
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]
const f = (n: number) => n.toFixed(3)
printTable(`MCP tool call, ${N} sequential calls each (ms)`, [
  ['path', 'p50', 'p90', 'p99'],
  ['direct to the MCP server', f(median(d)), f(pct(d, 0.9)), f(pct(d, 0.99))],
  ['through nestbox /mcp/', f(median(h)), f(pct(h, 0.9)), f(pct(h, 0.99))],
  ['added by the hub', f(median(h) - median(d)), f(pct(h, 0.9) - pct(d, 0.9)), f(pct(h, 0.99) - pct(d, 0.99))],
])
printTable(`CPU per call through the hub, ${N} calls (ms)`, [
  ['process', 'cpu/call'],
  ['nestbox (the hub: auth, serve, client to upstream)', f(cpuMs(n0, n1) / N)],
  ['the upstream MCP server', f(cpuMs(u0, u1) / N)],
])
console.log(`load average during the run: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`)
await viaDirect.close()
await viaHub.close()
nestbox.send({ exit: true })
await new Promise((r) => nestbox.once('exit', r))
upstream.kill()
