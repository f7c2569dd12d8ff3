/**
 * Web pages for browser tests, served the way an internet-mode replica can
 * reach them: from a network namespace this helper makes (veth pair, its own
 * non-loopback address), since such capsules reach neither the host's loopback
 * nor its addresses. Nothing leaves this machine. The test process reaches the
 * same server over the veth too (for its request log).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export type LoggedRequest = { method: string; url: string; headers: Record<string, string | string[] | undefined> }
export type PageServer = { base: string; requests: () => Promise<LoggedRequest[]>; close: () => void }

// Runs in the namespace: serves the files of a directory (path → file, "index" for /), logs requests at /__log.
const SERVER = `
import { createServer } from 'node:http'
import { readFileSync } from 'node:fs'
const [dir, host, port] = process.argv.slice(2)
const pages = JSON.parse(readFileSync(dir + '/pages.json', 'utf8'))
const log = []
createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname
  if (path === '/__log') { res.setHeader('content-type', 'application/json'); return res.end(JSON.stringify(log)) }
  log.push({ method: req.method, url: req.url, headers: req.headers })
  const p = pages[path]
  if (!p) { res.statusCode = 404; return res.end('not found') }
  if (p.slow) return setTimeout(() => { res.setHeader('content-type', p.type); res.end(p.body) }, p.slow)
  res.setHeader('content-type', p.type)
  for (const [k, v] of Object.entries(p.headers ?? {})) res.setHeader(k, v)
  res.end(p.body)
}).listen(Number(port), host, () => console.log('ready'))
`

/** A 10.N.9.0/24 no interface of this machine uses yet (test files run side by side, each with its own). */
function freeNet(): number {
  const used = execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' })
  for (let i = 0; i < 100; i++) {
    const n = 100 + ((process.pid + i) % 100)
    if (!used.includes(` 10.${n}.9.`)) return n
  }
  throw new Error('no free 10.N.9.0/24 for the page server')
}

export type Page = string | { body: string; type?: string; headers?: Record<string, string>; slow?: number }

export async function startPageServer(pages: Record<string, Page>): Promise<PageServer> {
  const net = freeNet()
  const ns = `nbp${process.pid}`
  const hostIf = `nbq${process.pid}`.slice(0, 15)
  const hostAddr = `10.${net}.9.1`
  const addr = `10.${net}.9.2`
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' })
  const dir = mkdtempSync(join(tmpdir(), 'nb-pages-'))
  const table = Object.fromEntries(Object.entries(pages).map(([p, v]) => [p, typeof v === 'string' ? { body: v, type: 'text/html; charset=utf-8' } : { type: 'text/html; charset=utf-8', ...v }]))
  writeFileSync(join(dir, 'pages.json'), JSON.stringify(table))
  writeFileSync(join(dir, 'server.mjs'), SERVER)

  ip('netns', 'add', ns)
  ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
  ip('addr', 'add', `${hostAddr}/24`, 'dev', hostIf)
  ip('link', 'set', hostIf, 'up')
  ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
  ip('-n', ns, 'link', 'set', 'eth0', 'up')
  ip('-n', ns, 'link', 'set', 'lo', 'up')
  const server: ChildProcess = spawn('ip', ['netns', 'exec', ns, process.execPath, join(dir, 'server.mjs'), dir, addr, '8080'], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    server.stdout!.once('data', () => resolve())
    server.once('exit', (code) => reject(new Error(`page server exited with ${code}`)))
  })
  const base = `http://${addr}:8080`
  return {
    base,
    requests: async () => (await (await fetch(`${base}/__log`)).json()) as LoggedRequest[],
    close: () => {
      server.kill('SIGKILL')
      try {
        ip('link', 'del', hostIf)
      } catch {
        // gone with the namespace
      }
      try {
        ip('netns', 'del', ns)
      } catch {
        // already gone
      }
      rmSync(`/var/run/netns/${ns}`, { force: true })
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
