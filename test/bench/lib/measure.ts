/**
 * Shared benchmark helpers: medians and percentiles, a table printer, server processes on free
 * loopback ports, waiting for health, resident memory from /proc, and wrk as the
 * load generator (a separate C process, so its own cost stays off the server).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** The p-th percentile (p in 0-100) of `xs`: the sample at that rank, no interpolation. */
export const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]

/** Prints rows as an aligned table; the first row is the header. */
export function printTable(title: string, rows: Array<Array<string | number>>): void {
  const cells = rows.map((r) => r.map(String))
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  console.log(`\n${title}\n${line(cells[0])}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`)
  for (const r of cells.slice(1)) console.log(line(r))
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => res(port))
    })
  })
}

export type Proc = { child: ChildProcess; stop: () => Promise<number | null> }

/**
 * Spawns a server process (with this environment when `env` is not given). Its
 * stderr goes to `logFile` (default /dev/null), not through a pipe the benchmark
 * would have to drain while it measures; a crash prints that file's tail.
 */
export function startProcess(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; logFile?: string } = {}): Proc {
  const logFile = opts.logFile ?? '/dev/null'
  const fd = openSync(logFile, 'w')
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'ignore', fd] })
  closeSync(fd)
  child.on('exit', (code, sig) => {
    if (code && code !== 0) process.stderr.write(`${cmd} exited ${code ?? sig}: ${readFileSync(logFile, 'utf8').slice(-2000)}\n`)
  })
  const stop = () =>
    new Promise<number | null>((res) => {
      if (child.exitCode !== null || child.signalCode !== null) return res(child.exitCode)
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      child.once('exit', (code) => {
        clearTimeout(t)
        res(code)
      })
      child.kill('SIGTERM')
    })
  return { child, stop }
}

/** Polls `url` until it answers 200; resolves to ms elapsed since `t0` (performance.now()). */
export async function waitHealthy(url: string, t0: number, timeoutMs = 10_000): Promise<number> {
  while (performance.now() - t0 < timeoutMs) {
    try {
      const r = await fetch(url)
      await r.arrayBuffer()
      if (r.ok) return performance.now() - t0
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 2))
  }
  throw new Error(`${url} not healthy after ${timeoutMs} ms`)
}

/**
 * Memory of a process in MB: resident (VmRSS) and its private part (RssAnon). The
 * rest of RSS is the executable's file pages, clean and shared with the page cache.
 */
export function memoryMb(pid: number): { rss: number; private: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1])
  return { rss: kb('VmRSS') / 1024, private: kb('RssAnon') / 1024 }
}

/** CPU time (user + system) a process has used so far, in ms. */
export function cpuMs(pid: number): number {
  // Fields after the parenthesised command name; utime and stime are the 12th and 13th, in clock ticks (100 Hz).
  const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(rest[11]) + Number(rest[12])) * 10
}

export function haveWrk(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined
}

/** Runs wrk against `url`; resolves to requests/s. Non-2xx answers fail the run. */
export function wrk(url: string, o: { connections: number; threads?: number; seconds: number }): Promise<number> {
  return wrkRun(url, o).then((r) => r.rps)
}

/** wrk against a server process: requests/s and the server's CPU time per request (µs). */
export async function load(url: string, pid: number, o: { connections: number; seconds: number }): Promise<{ rps: number; cpuUsPerReq: number }> {
  const c0 = cpuMs(pid)
  const r = await wrkRun(url, o)
  return { rps: r.rps, cpuUsPerReq: ((cpuMs(pid) - c0) * 1000) / r.requests }
}

function wrkRun(url: string, o: { connections: number; threads?: number; seconds: number }): Promise<{ rps: number; requests: number }> {
  return new Promise((res, rej) => {
    const args = ['-t', String(o.threads ?? 1), '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency', url]
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('error', rej)
    child.on('close', (code) => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
      const requests = Number(/(\d+) requests in/.exec(out)?.[1])
      if (code !== 0 || !rps || !requests) return rej(new Error(`wrk failed (exit ${code}):\n${out}`))
      if (/Non-2xx or 3xx responses/.test(out) || /Socket errors/.test(out)) return rej(new Error(`wrk saw errors:\n${out}`))
      res({ rps, requests })
    })
  })
}

/** Proportional set size summed over every process below this one (kB → bytes), e.g. the capsules' processes. */
export function descendantsPss(): { count: number; bytes: number } {
  const kids = new Map<number, number[]>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)])
    } catch {
      // gone
    }
  }
  let count = 0
  let bytes = 0
  const walk = (pid: number) => {
    for (const k of kids.get(pid) ?? []) {
      try {
        bytes += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${k}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024
        count++
      } catch {
        // gone
      }
      walk(k)
    }
  }
  walk(process.pid)
  return { count, bytes }
}
