/**
 * A stand-in for cloudflared (which is neither in Debian nor on npm), written by
 * the test into a temp dir. It speaks cloudflared's documented CLI:
 * `--version`; `tunnel --no-autoupdate --grace-period D --url ORIGIN` prints the
 * quick tunnel's URL in an ASCII box on stderr, as quick_tunnel.go does;
 * `tunnel --config FILE run` reads the ingress rules. Both then log a registered
 * connection, keep running, and exit on SIGTERM ("graceful shutdown").
 *
 * It also plays Cloudflare's edge on loopback: an HTTP proxy that forwards to
 * the origin (quick) or by ingress hostname (named), keeping the Host header and
 * adding X-Forwarded-Proto: https as cloudflared does. Its port is written to
 * edge-<pid>.json so a test can make requests "through the tunnel".
 *
 * Control files beside it: `fail-start` (exits 1 with cloudflared's quick-tunnel
 * request error before any URL), `crash` (removed, then exits 1 with an ERR
 * line), `ignore-term` (survives SIGTERM). Every start appends {pid, child, args,
 * t} to runs.jsonl; `child` is a `sleep` it leaves in its process group.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const SCRIPT = String.raw`
const fs = require('fs'), http = require('http'), path = require('path'), { spawn } = require('child_process'), { randomUUID } = require('crypto')
const dir = __dirname, args = process.argv.slice(2)
const has = (f) => fs.existsSync(path.join(dir, f))
const log = (lvl, msg) => process.stderr.write(new Date().toISOString().replace(/\.\d+Z$/, 'Z') + ' ' + lvl + ' ' + msg + '\n')
const flag = (name) => { const i = args.indexOf('--' + name); return i >= 0 ? args[i + 1] : undefined }
if (args[0] === '--version' || args[0] === 'version') { console.log('cloudflared version 2025.11.1 (built 2025-11-07-16:59 UTC)'); process.exit(0) }
const sleeper = spawn('sleep', ['1000'], { stdio: 'ignore' })
fs.appendFileSync(path.join(dir, 'runs.jsonl'), JSON.stringify({ pid: process.pid, child: sleeper.pid, args, t: Date.now() }) + '\n')
if (args[0] !== 'tunnel') { log('ERR', 'unknown command ' + args[0]); process.exit(1) }
const named = args.includes('run')
let routes
if (named) {
  const file = flag('config')
  const text = file ? fs.readFileSync(file, 'utf8') : ''
  // just enough YAML for "  - hostname: x\n    service: y" rules
  routes = []
  for (const m of text.matchAll(/-\s+(?:hostname:\s*"?([^"\n]+?)"?\s*\n\s+)?service:\s*(\S+)/g)) routes.push({ host: m[1] || null, service: m[2] })
  log('INF', 'Starting tunnel tunnelID=' + (/^tunnel:\s*(\S+)/m.exec(text) || [])[1])
} else {
  log('INF', 'Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare account, is a quick way to experiment and try it out. However, be aware that these account-less Tunnels have no uptime guarantee. If you intend to use Tunnels in production you should use a pre-created named tunnel by following: https://developers.cloudflare.com/cloudflare-one/connections/connect-apps')
  log('INF', 'Requesting new quick Tunnel on trycloudflare.com...')
  if (has('fail-start')) {
    log('ERR', 'failed to request quick Tunnel: Post "https://api.trycloudflare.com/tunnel": dial tcp: lookup api.trycloudflare.com: no such host')
    process.exit(1)
  }
  routes = [{ host: null, service: flag('url') }]
}
const match = (host) => routes.find((r) => !r.host || r.host === host || (r.host.startsWith('*.') && host.endsWith(r.host.slice(1))))
const edge = http.createServer((req, res) => {
  const host = (req.headers.host || '').split(':')[0]
  const r = match(host)
  if (!r || !/^https?:/.test(r.service)) { res.writeHead(r ? Number(r.service.split(':')[1]) || 404 : 404); return res.end() }
  const u = new URL(r.service)
  const up = http.request({ host: u.hostname, port: u.port, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7', 'cf-connecting-ip': '203.0.113.7' } }, (ur) => { res.writeHead(ur.statusCode, ur.headers); ur.pipe(res) })
  up.on('error', () => { res.writeHead(502); res.end() })
  req.pipe(up)
})
edge.listen(0, '127.0.0.1', () => {
  const words = ['calm', 'river', 'orange', 'lamp', 'quiet', 'stone', 'maple', 'harbor']
  const name = Array.from({ length: 4 }, () => words[Math.floor(Math.random() * words.length)]).join('-') + '-' + process.pid
  const url = 'https://' + name + '.trycloudflare.com'
  // whole or not at all: the test may read it at any moment
  fs.writeFileSync(path.join(dir, 'edge-' + process.pid + '.tmp'), JSON.stringify({ port: edge.address().port, url: named ? null : url }))
  fs.renameSync(path.join(dir, 'edge-' + process.pid + '.tmp'), path.join(dir, 'edge-' + process.pid + '.json'))
  if (!named) {
    const lines = ['Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):', url]
    const width = Math.max(...lines.map((l) => l.length))
    const border = '+' + '-'.repeat(width + 4) + '+'
    for (const l of [border, ...lines.map((l) => '|  ' + l + ' '.repeat(width - l.length) + '  |'), border]) log('INF', l)
  }
  log('INF', 'Version 2025.11.1 (Checksum 0123abcd)')
  log('INF', 'Registered tunnel connection connIndex=0 connection=' + randomUUID() + ' event=0 ip=198.41.200.13 location=ams01 protocol=quic')
})
process.on('SIGTERM', () => {
  if (has('ignore-term')) return log('INF', 'ignoring SIGTERM')
  log('INF', 'Initiating graceful shutdown due to signal terminated ...')
  edge.close()
  process.exit(0)
})
setInterval(() => {
  if (!has('crash')) return
  fs.rmSync(path.join(dir, 'crash'), { force: true })
  log('ERR', 'simulated crash: connection to the edge was lost')
  process.exit(1)
}, 20)
`

export type Run = { pid: number; child: number; args: string[]; t: number }

export type StandIn = {
  dir: string
  /** The executable: give it to tunnel.cloudflared.path. */
  path: string
  runs: () => Run[]
  /** Creates or removes a control file (fail-start, crash, ignore-term). */
  set: (name: 'fail-start' | 'crash' | 'ignore-term', on: boolean) => void
  /** The edge proxy of the run with this pid: its port and the URL it printed. */
  edge: (pid: number) => { port: number; url: string | null }
  remove: () => void
}

export function writeStandIn(): StandIn {
  const dir = mkdtempSync(join(tmpdir(), 'nestbox-cloudflared-'))
  const path = join(dir, 'cloudflared')
  writeFileSync(path, `#!${process.execPath}\n${SCRIPT}`)
  chmodSync(path, 0o755)
  return {
    dir,
    path,
    // complete lines only: a run may be appending its own right now
    runs: () => (existsSync(join(dir, 'runs.jsonl')) ? readFileSync(join(dir, 'runs.jsonl'), 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l) as Run) : []),
    set: (name, on) => (on ? writeFileSync(join(dir, name), '') : rmSync(join(dir, name), { force: true })),
    edge: (pid) => JSON.parse(readFileSync(join(dir, `edge-${pid}.json`), 'utf8')),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** True while `pid` is a live process (a zombie waiting for its parent counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** Polls `check` every 20 ms until it returns a truthy value, or throws after `ms`. */
export async function until<T>(what: string, check: () => T | Promise<T>, ms = 10_000): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v as Exclude<T, false | null | undefined | 0 | ''>
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
