/**
 * Sandboxes benchmark (issue 14). Each section is an exported function returning
 * table rows, so the local-agent tunnel half can be added beside it:
 *   - subdomain proxy: GET /global/health of a real opencode in a sandbox, one
 *     keep-alive connection, requests one after another (latency, no queueing),
 *     through oc-{id}.{baseDomain} with the entry cookie vs the same requests made
 *     inside the sandbox's namespace (a Node client run in the capsule), rounds
 *     interleaved; target: p50 added ≤ 1 ms. For reference, the capsule port
 *     exposure over the same relay: by host (its connection handed over at L4
 *     after the first request) and by path (HTTP through Hono, as ours is HTTP).
 * Usage: node test/bench/sandboxes.ts [--quick]
 */
import { Agent, request } from 'node:http'
import { loadavg } from 'node:os'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { median, printTable } from './lib/measure.ts'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 7
const N = quick ? 300 : 1000
const BASE = 'bench.nestbox.test'

type Rows = Array<Array<string | number>>

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A session-bound entry: logs the admin in on the workspace surface. */
async function adminCookie(nb: TestNestbox): Promise<string> {
  const r = await fetch(`${nb.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: nb.bootstrap.admin_email, password: nb.bootstrap.admin_password }) })
  return r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
}

/** n sequential GETs over one keep-alive connection; per-request latencies in ms. */
async function sequential(nb: TestNestbox, host: string, path: string, headers: Record<string, string>, n: number): Promise<number[]> {
  const u = new URL(nb.url)
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, path, agent, headers: { host, ...headers } }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`))
        res.resume()
        res.on('end', resolve)
      })
      req.on('error', reject)
      req.end()
    })
    out.push(performance.now() - t0)
  }
  agent.destroy()
  return out
}

/** The same requests from inside the capsule: a Node client in its namespace, straight to the service's port. */
const INSIDE = `
const http = require('node:http'); const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const [n, auth] = [Number(process.argv[1]), process.argv[2]]; const out = [];
(async () => { for (let i = 0; i < n; i++) { const t0 = performance.now();
  await new Promise((res, rej) => { const r = http.request({ host: '127.0.0.1', port: 4096, path: '/global/health', agent, headers: { authorization: auth } }, (s) => { if (s.statusCode !== 200) rej(new Error('status ' + s.statusCode)); s.resume(); s.on('end', res) }); r.on('error', rej); r.end() });
  out.push(performance.now() - t0) } console.log(JSON.stringify(out)); agent.destroy() })().catch((e) => { console.error(e); process.exit(1) })`

export async function subdomainProxy(nb: TestNestbox): Promise<Rows> {
  const cookie = await adminCookie(nb)
  const team = nb.bootstrap.team_id
  const created = await (await fetch(`${nb.url}/api/workspaces/${team}/sandboxes`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', origin: nb.url }, body: JSON.stringify({ name: 'bench', type: 'opencode' }) })).json()
  let sb = created
  while (sb.status !== 'running') {
    if (sb.status === 'error') throw new Error(`sandbox failed: ${sb.error}`)
    await sleep(200)
    sb = await (await fetch(`${nb.url}/api/sandboxes/${created.id}`, { headers: { cookie } })).json()
  }
  const entry = new URL(sb.opencode_url)
  const host = entry.host
  const u = new URL(nb.url)
  const sbCookie = await new Promise<string>((resolve, reject) => {
    request({ host: u.hostname, port: u.port, path: entry.pathname + entry.search, headers: { host } }, (res) => {
      res.resume()
      const set = res.headers['set-cookie']?.[0]
      if (res.statusCode !== 302 || !set) return reject(new Error(`entry answered ${res.statusCode}`))
      resolve(set.split(';')[0])
    })
      .on('error', reject)
      .end()
  })
  // the service's own credential, as the proxy injects it (read from opencode's environment in the capsule)
  const env = await (await nb.api(`/v1/capsules/${sb.capsule_id}/exec`, { method: 'POST', json: { cmd: '/bin/sh', args: ['-c', "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -m1 '^OPENCODE_SERVER_PASSWORD='"] } })).json()
  const auth = `Basic ${Buffer.from(`opencode:${String(env.stdout).trim().split('=')[1]}`).toString('base64')}`

  // reference: the capsule port exposure by host over the same relay (its connection is handed over after the first request)
  const portToken = (await (await nb.api(`/v1/capsules/${sb.capsule_id}/ports/4096/token`, { method: 'POST', json: { ttl_sec: 3600 } })).json()).token
  const portHost = `4096-${sb.capsule_id}.${BASE}`
  const portHeaders = { cookie: `nestbox_port_token=${portToken}`, authorization: auth }

  const proxied: number[] = []
  const direct: number[] = []
  const ported: number[] = []
  const pathed: number[] = []
  await sequential(nb, host, '/global/health', { cookie: sbCookie }, 50) // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const inside = await (await nb.api(`/v1/capsules/${sb.capsule_id}/exec`, { method: 'POST', json: { cmd: '/usr/bin/node', args: ['-e', INSIDE, String(N), auth], timeout_sec: 300 } })).json()
    if (inside.exit_code !== 0) throw new Error(`inside client failed: ${JSON.stringify(inside).slice(0, 500)}`)
    direct.push(median(JSON.parse(inside.stdout)))
    proxied.push(median(await sequential(nb, host, '/global/health', { cookie: sbCookie }, N)))
    ported.push(median(await sequential(nb, portHost, '/global/health', portHeaders, N)))
    pathed.push(median(await sequential(nb, u.host, `/v1/capsules/${sb.capsule_id}/ports/4096/global/health`, { 'x-api-key': nb.apiKey, authorization: auth }, N)))
  }
  await fetch(`${nb.url}/api/sandboxes/${sb.id}`, { method: 'DELETE', headers: { cookie, origin: nb.url } })
  const p = median(proxied)
  const d = median(direct)
  return [
    ['opencode GET /global/health, 1 connection', 'p50 ms', 'vs direct'],
    ['direct, inside the sandbox namespace', d.toFixed(3), '1.00×'],
    [`oc-{id}.${BASE} (subdomain proxy)`, p.toFixed(3), `${(p / d).toFixed(2)}×`],
    [`4096-{capsule}.${BASE} (port exposure, same relay)`, median(ported).toFixed(3), `${(median(ported) / d).toFixed(2)}×`],
    [`/v1/capsules/{id}/ports/4096/ (port exposure by path: HTTP through Hono)`, median(pathed).toFixed(3), `${(median(pathed) / d).toFixed(2)}×`],
    ['added by the proxy (target ≤ 1 ms)', (p - d).toFixed(3), p - d <= 1 ? 'ok' : 'OVER'],
    ['load average (1 min) at the end', loadavg()[0].toFixed(1), ''],
  ]
}

const nb = await startTestNestbox({ set: { baseDomain: BASE } })
try {
  printTable(`Subdomain proxy (${ROUNDS} rounds × ${N} requests, medians of round medians)`, await subdomainProxy(nb))
} finally {
  await nb.close()
}
