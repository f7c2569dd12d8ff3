/**
 * One browser replica: a capsule of its own (network mode internet, the pool's
 * memory limit) running Xvfb and Debian's chromium, driven from the host with
 * playwright-core over CDP through the capsule's ports relay, so no host port
 * is opened and a hostile page reaches neither the host nor other replicas.
 * Chromium's own sandbox is off (--no-sandbox): the capsule is the sandbox.
 */
import WebSocket from 'ws'
import { chromium, type Browser, type BrowserContext, type ConnectOverCDPTransport, type Page } from 'playwright-core'
import { Readable } from 'node:stream'
import { randomBytes } from 'node:crypto'
import type { Config } from '../core/config/index.ts'
import { unavailable } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { system } from '../core/principal.ts'
import type { CapsuleService } from '../capsules/service.ts'
import type { ProcessHandle } from '../capsules/runtime/types.ts'
import type { ReplicaHandle } from './replica-handle.ts'
import { applyStealth, chromiumArgs, chromiumEnv, fingerprintFor } from './stealth.ts'

export const DISPLAY = ':99'
const CDP_PORT = 9222
const PROFILE_DIR = '/root/browser-profile'

export type ReplicaDeps = { capsules: CapsuleService; teamId: string; cfg: Config['browser']; log: Logger }

export type Replica = ReplicaHandle & {
  readonly capsuleId: string
  readonly profile: string
  /** Resolves once the replica can no longer serve, with the reason. */
  readonly died: Promise<string>
  /** Why it died, once it has; else null. */
  deadReason(): string | null
  /** Working-set memory of the capsule from the newest metrics sample, or null before the first. */
  memoryBytes(): number | null
  /** A full garbage collection in the tab's renderer (V8 and Blink's heap); no-op without a tab. */
  collectGarbage(): Promise<void>
  /** Disconnects and destroys the capsule. */
  close(): Promise<void>
}

/** Chromium prints its DevTools address on stderr once it is ready. */
function devtoolsUrl(h: ProcessHandle, exited: Promise<number>): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const off = h.onStderr((d) => {
      buf = (buf + d.toString('latin1')).slice(-8192)
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(buf)
      if (m) {
        off()
        resolve(m[1])
      }
    })
    void exited.then((code) => reject(new Error(`chromium exited with ${code} before it was ready: ${buf.slice(-500)}`)))
  })
}

/** A CDP transport over one WebSocket that runs through the capsule's ports relay. */
async function relayTransport(d: ReplicaDeps, capsuleId: string, url: string): Promise<ConnectOverCDPTransport> {
  const sock = await d.capsules.portConnections.connect({ id: capsuleId, port: CDP_PORT })
  // connectPort hands the socket over paused; nothing arrives before the upgrade request is written
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024, createConnection: () => (process.nextTick(() => sock.resume()), sock) })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  const t: ConnectOverCDPTransport = { send: (m) => ws.send(JSON.stringify(m)), close: () => ws.close() }
  ws.on('message', (data) => t.onmessage?.(JSON.parse(data.toString())))
  ws.on('close', () => t.onclose?.())
  ws.on('error', () => ws.terminate())
  return t
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms)
    p.then(resolve, reject).finally(() => clearTimeout(timer))
  })

/**
 * V8 sizes its heap from the host's memory, not the capsule's: a tab's renderer then collects lazily and grows by
 * megabytes per navigation into the capsule's OOM kill. A quarter of the capsule keeps it collecting in time.
 */
const v8HeapCap = (memoryMb: number) => `--js-flags=--max-old-space-size=${Math.max(32, Math.floor(memoryMb / 4))}`

/** Starts a replica (capsule, Xvfb, chromium, CDP) or throws after destroying what it made. */
export async function startReplica(d: ReplicaDeps, id: string, profile: string): Promise<Replica> {
  const caps = d.capsules.admin
  const limits = d.capsules.config.limits
  const memoryMb = Math.min(d.cfg.memoryMb, limits.maxMemoryMb)
  const row = await caps.create(system, {
    team_id: d.teamId,
    network: 'internet',
    memory_mb: memoryMb,
    vcpus: Math.min(d.cfg.vcpus, limits.maxVcpus),
    timeout_sec: 0,
    metadata: { browser: 'replica', replica: id, profile },
  })
  let browser: Browser | null = null
  try {
    const fp = fingerprintFor(profile, { locale: d.cfg.locale, timezone: d.cfg.timezone, proxy: d.cfg.proxy || null })
    const { screen } = fp
    const spawn = (tag: string, cmd: string, args: string[], envs: Record<string, string> = {}) => caps.processes.spawn(system, row.id, { cmd, args, envs: { DISPLAY, ...envs }, tag })
    const start = async () => {
      // exec waits for the capsule's boot
      const mk = await caps.processes.exec(system, row.id, { cmd: 'mkdir', args: ['-p', PROFILE_DIR, '/tmp/.X11-unix'], timeoutSec: 30, background: false, tag: null })
      if (mk.exitCode !== 0) throw new Error('the replica capsule could not be prepared')
      const xvfb = await spawn('xvfb', '/usr/bin/Xvfb', [DISPLAY, '-screen', '0', `${screen.width}x${screen.height}x24`, '-nolisten', 'tcp', '-nocursor'])
      // --no-startup-window: no first tab racing the attach (evaluating in it could hang); page() opens the one window
      const chrome = await spawn('chromium', '/usr/bin/chromium', [...chromiumArgs(fp), v8HeapCap(memoryMb), '--no-sandbox', `--user-data-dir=${PROFILE_DIR}`, `--remote-debugging-port=${CDP_PORT}`, '--remote-debugging-address=127.0.0.1', '--no-startup-window'], chromiumEnv(fp))
      const url = await devtoolsUrl(chrome, chrome.exited)
      browser = await chromium.connectOverCDP(await relayTransport(d, row.id, url))
      const context = browser.contexts()[0]
      await applyStealth(context, fp)
      return { xvfb, chrome, context }
    }
    const { xvfb, chrome, context } = await withTimeout(start(), d.cfg.startTimeoutSec * 1000, 'starting the browser')
    const b = browser as unknown as Browser

    let closing = false
    let closed: Promise<void> | undefined
    let dead: string | null = null
    let resolveDied: (why: string) => void = () => {}
    const died = new Promise<string>((resolve) => (resolveDied = resolve))
    const markDead = (why: string) => {
      dead ??= why
      resolveDied(dead)
    }
    const watch = (p: Page) => p.on('crash', () => markDead('its page crashed (out of memory?)'))
    context.pages().forEach(watch)
    context.on('page', watch)
    void chrome.exited.then((code) => markDead(code === 137 ? 'chromium was killed (out of memory?)' : `chromium exited with ${code}`))
    void xvfb.exited.then((code) => markDead(`its display server exited with ${code}`))
    b.on('disconnected', () => markDead('the browser connection was lost'))

    const exec: ReplicaHandle['exec'] = async (argv, o = {}) => {
      if (!argv.length) throw new Error('exec needs a command')
      let cmd = argv[0]
      let args = argv.slice(1)
      let stdinFile: string | null = null
      if (o.stdin) {
        // capsule exec takes no stdin: it goes through a file in the capsule
        stdinFile = `/tmp/.stdin-${randomBytes(6).toString('hex')}`
        await caps.files.write(system, row.id, stdinFile, Readable.from([o.stdin]))
        args = ['-c', 'f=$1; shift; exec "$@" < "$f"', 'sh', stdinFile, cmd, ...args]
        cmd = '/bin/sh'
      }
      try {
        const r = await caps.processes.exec(system, row.id, { cmd, args, envs: { DISPLAY }, timeoutSec: Math.max(1, Math.ceil((o.timeoutMs ?? 30_000) / 1000)), background: false, tag: null })
        return { stdout: r.stdout, stderr: r.stderr.toString(), exitCode: r.exitCode }
      } finally {
        if (stdinFile) await caps.files.remove(system, row.id, stdinFile).catch(() => {})
      }
    }

    return {
      id,
      profile,
      capsuleId: row.id,
      context,
      screen,
      died,
      deadReason: () => dead,
      exec,
      async page() {
        if (closing) throw unavailable('this browser replica is being replaced')
        const open = context.pages().filter((p) => !p.isClosed())
        if (open.length) return open.at(-1)!
        // a new tab's initial about:blank never commits over CDP here, and evaluating in it hangs: commit one first
        const p = await context.newPage()
        await p.goto('about:blank')
        return p
      },
      memoryBytes: () => d.capsules.sampler.latest(row.id)?.memBytes ?? null,
      async collectGarbage() {
        const p = context.pages().find((x) => !x.isClosed())
        if (!p) return
        // a page busy in a script of its own would hold the collection (and the replica with it) forever
        const collect = async () => {
          const s = await context.newCDPSession(p)
          try {
            await s.send('HeapProfiler.collectGarbage')
          } finally {
            await s.detach().catch(() => {})
          }
        }
        await withTimeout(collect(), 5000, 'a garbage collection in the tab')
      },
      close() {
        closed ??= (async () => {
          closing = true
          markDead('closed')
          await b.close().catch(() => {})
          await caps.destroy(system, row.id).catch((err) => d.log.warn('browser replica capsule not destroyed', { replica: id, capsule: row.id, err }))
        })()
        return closed
      },
    }
  } catch (err) {
    await (browser as Browser | null)?.close().catch(() => {})
    await caps.destroy(system, row.id).catch(() => {})
    d.log.error('browser replica did not start', { replica: id, capsule: row.id, err })
    throw unavailable('a browser replica could not be started', 'replica_unavailable')
  }
}
