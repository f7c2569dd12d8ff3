/**
 * Local-agent test helpers: the local service an agent serves (HTTP routes and a
 * WebSocket echo, with the producer's progress observable for flow-control
 * checks), `nestbox agent connect` as a real child process, and registration.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import type { TestNestbox } from '../harness.ts'

const MAIN = new URL('../../main.ts', import.meta.url).pathname

/** A deterministic byte stream: block i of 64 KiB is the SHA-256 chain of i, repeated. */
export function block(i: number): Buffer {
  const seed = createHash('sha256').update(String(i)).digest()
  return Buffer.alloc(64 * 1024, seed)
}
export function patternSha(n: number): string {
  const h = createHash('sha256')
  for (let i = 0, left = n; left > 0; i++, left -= 64 * 1024) h.update(left >= 64 * 1024 ? block(i) : block(i).subarray(0, left))
  return h.digest('hex')
}

export type LocalService = {
  port: number
  server: Server
  /** Bytes the /bytes producer has handed to its response so far, and whether it waits for 'drain' now. */
  producer: { written: number; waiting: boolean; onWait?: () => void; finished: boolean; onClose?: () => void }
  close(): Promise<void>
}

/** The service behind the agent: /hello, /echo-headers, POST /sha (streams the body into a hash), /bytes?n=, /never, and a WebSocket echo. */
export async function startLocalService(): Promise<LocalService> {
  const producer: LocalService['producer'] = { written: 0, waiting: false, finished: false }
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/hello') {
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/'])
      res.setHeader('x-path', req.url ?? '')
      return res.end('hello from the local service')
    }
    if (url.pathname === '/echo-headers') return res.end(JSON.stringify(req.headers))
    if (url.pathname === '/sha' && req.method === 'POST') {
      const h = createHash('sha256')
      let n = 0
      req.on('data', (c: Buffer) => {
        h.update(c)
        n += c.length
      })
      req.on('end', () => res.end(JSON.stringify({ bytes: n, sha256: h.digest('hex') })))
      return
    }
    if (url.pathname === '/bytes') {
      const n = Number(url.searchParams.get('n'))
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) })
      producer.written = 0
      producer.finished = false
      res.once('close', () => {
        producer.finished = res.writableFinished
        producer.onClose?.()
      })
      let i = 0
      const pump = () => {
        producer.waiting = false
        while (producer.written < n) {
          const b = block(i++)
          const part = n - producer.written >= b.length ? b : b.subarray(0, n - producer.written)
          producer.written += part.length
          if (!res.write(part)) {
            producer.waiting = true
            res.once('drain', pump)
            producer.onWait?.()
            return
          }
        }
        res.end()
      }
      return pump()
    }
    if (url.pathname === '/never') return // answers nothing: the hub's timeout answers
    res.writeHead(404).end('no such local path')
  })
  const wss = new WebSocketServer({ server, path: '/ws' })
  wss.on('connection', (ws, req) => {
    ws.send(JSON.stringify({ hello: req.url, protocol: ws.protocol }))
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    server,
    producer,
    close: () =>
      new Promise((r) => {
        for (const c of wss.clients) c.terminate()
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

/** A workspace owner's agent code, through the API with the bootstrap admin's key. */
export async function agentCode(nb: TestNestbox, workspaceId: string): Promise<string> {
  const r = await nb.api(`/api/workspaces/${workspaceId}/agent-code`, { method: 'POST' })
  if (r.status !== 200) throw new Error(`agent-code: ${r.status} ${await r.text()}`)
  return (await r.json()).code
}

export type AgentProcess = {
  child: ChildProcess
  lines: string[]
  /** Resolves with the first output line (stdout or stderr) matching `re` from the `from`-th line on. */
  waitFor(re: RegExp, o?: { from?: number; timeoutMs?: number }): Promise<string>
  exited: Promise<number | null>
  /** The exit code, failing with the agent's output if it has not exited within `ms`. */
  exitCode(ms?: number): Promise<number | null>
  stop(): Promise<number | null>
}

const running = new Set<AgentProcess>()
/** Stops every agent still running (a test's after hook: a failed test must not leave children holding the process open). */
export const stopAgents = () => Promise.all([...running].map((a) => a.stop()))

/** `node main.ts agent <args>` as a child process (never synchronous: the server runs in this process). */
export function spawnAgent(args: string[], env: Record<string, string> = {}): AgentProcess {
  const child = spawn(process.execPath, [MAIN, 'agent', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const waiters = new Set<() => void>()
  const take = (chunk: Buffer) => {
    lines.push(...chunk.toString().split('\n').filter(Boolean))
    for (const w of waiters) w()
  }
  child.stdout!.on('data', take)
  child.stderr!.on('data', take)
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const agent: AgentProcess = {
    child,
    lines,
    exited,
    exitCode(ms = 20_000) {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`agent did not exit within ${ms} ms:\n${lines.join('\n')}`)), ms)))
      return Promise.race([exited, late]).finally(() => clearTimeout(timer))
    },
    waitFor(re, o = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = lines.slice(o.from ?? 0).find((l) => re.test(l))
          if (!hit) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve(hit)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`agent output never matched ${re}:\n${lines.join('\n')}`))
        }, o.timeoutMs ?? 20_000)
        waiters.add(check)
        check()
        exited.then(() => setTimeout(check, 0))
      })
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
  running.add(agent)
  exited.then(() => running.delete(agent))
  return agent
}

/** An `opencode` executable for the agent to run: a shell script starting fake-opencode.ts with this Node. */
export function fakeOpencode(dir: string): string {
  const file = join(dir, 'opencode')
  writeFileSync(file, `#!/bin/sh\nexec '${process.execPath}' '${new URL('./fake-opencode.ts', import.meta.url).pathname}' "$@"\n`, { mode: 0o755 })
  return file
}
