/**
 * Keeps one child program running: starts it in a process group of its own,
 * reads its output line by line, restarts it with capped exponential backoff
 * when it dies, and stops it (SIGTERM to the group, SIGKILL after a grace period).
 *
 * It must never outlive nestbox. Node cannot set PR_SET_PDEATHSIG itself, so:
 * - a normal stop, SIGTERM or SIGINT to nestbox: stop() signals the group and waits;
 * - nestbox exits any other way it can observe (process.exit, an uncaught
 *   exception): an 'exit' handler sends SIGTERM to the group synchronously;
 * - nestbox is SIGKILLed (or dies on a signal it does not handle): the child was
 *   started through `setpriv --pdeathsig TERM` (util-linux), so the kernel sends
 *   it SIGTERM when nestbox's main thread dies. Without setpriv this one case
 *   leaves it running until the next start ends it (pidfile.ts); startup logs a
 *   warning and `nestbox doctor` says so.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { Logger } from '../core/logger.ts'

export type SupervisorState = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped'

export type SupervisorOptions = {
  command: string
  args: string[]
  log: Logger
  /** First delay before a restart; doubles per consecutive death of a run that did not stay up maxDelayMs, up to maxDelayMs. */
  restartDelayMs: number
  maxDelayMs: number
  /** Consecutive runs that died before ready() was called, after which it gives up; 0 = never. */
  maxFailures: number
  stopTimeoutMs: number
  /** A setpriv that supports --pdeathsig, or null. */
  setpriv: string | null
  /** Each line of the child's stdout and stderr. */
  onLine: (line: string, run: Run) => void
  /** The child was started. */
  onSpawn?: (run: Run) => void
  /** The child exited (or could not be started); `expected` when stop() asked for it. */
  onExit?: (run: Run, expected: boolean) => void
}

/** One start of the child. */
export type Run = { pid: number | null; startedAt: number; ready: boolean; lastErrorLine: string | null; lastLine: string | null }

export type SupervisorStatus = { state: SupervisorState; pid: number | null; restarts: number; lastError: string | null; startedAt: number | null }

/** Signals a whole process group, ignoring one that is already gone. */
function killGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e
  }
}

export function createSupervisor(o: SupervisorOptions) {
  let state: SupervisorState = 'stopped'
  let child: ChildProcess | null = null
  let run: Run | null = null
  let restarts = 0
  let failures = 0
  // Deaths in a row of runs that did not stay up for maxDelayMs: a flapping child backs off even if each run got ready.
  let streak = 0
  let lastError: string | null = null
  let timer: NodeJS.Timeout | null = null
  let stopping = false
  let exited: Promise<void> = Promise.resolve()

  const start = () => {
    timer = null
    const argv = o.setpriv ? [o.setpriv, '--pdeathsig', 'TERM', '--', o.command, ...o.args] : [o.command, ...o.args]
    const r: Run = { pid: null, startedAt: Date.now(), ready: false, lastErrorLine: null, lastLine: null }
    run = r
    state = state === 'restarting' ? 'restarting' : 'starting'
    let p: ChildProcess
    try {
      // detached: a new session and process group, so signals reach anything it starts, and a terminal's
      // Ctrl-C (sent to nestbox's foreground group) does not kill it behind the supervisor's back.
      p = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (e) {
      return died(r, null, `could not start ${o.command}: ${(e as Error).message}`)
    }
    child = p
    r.pid = p.pid ?? null
    const pid = p.pid
    const onNestboxExit = () => {
      try {
        if (pid) killGroup(pid, 'SIGTERM')
      } catch {}
    }
    if (pid) process.on('exit', onNestboxExit)
    let done = false
    let resolveExited = () => {}
    exited = new Promise((res) => (resolveExited = res))
    const finish = (why: string | null) => {
      if (done) return
      done = true
      process.off('exit', onNestboxExit)
      if (pid) killGroup(pid, 'SIGKILL')
      child = null
      resolveExited()
      died(r, pid ?? null, why)
    }
    for (const stream of [p.stdout!, p.stderr!])
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        if (line.trim()) r.lastLine = line.trim().slice(0, 500)
        o.onLine(line, r)
      })
    let why: string | null = null
    p.once('error', (e) => {
      why ??= `could not start ${o.command}: ${e.message}`
      if (!pid) finish(why)
    })
    // Its last lines (the error that killed it) arrive after 'exit'; 'close' waits for them. Anything it
    // left in its group could hold the pipes open, so the group goes first.
    p.once('exit', (code, signal) => {
      why ??= signal ? `${o.command} was killed by ${signal}` : `${o.command} exited with code ${code}`
      if (pid) killGroup(pid, 'SIGKILL')
    })
    p.once('close', () => finish(why))
    o.log.info('cloudflared started', { pid, command: o.command, args: o.args })
    if (pid) o.onSpawn?.(r)
  }

  const died = (r: Run, pid: number | null, why: string | null) => {
    const expected = stopping
    o.onExit?.(r, expected)
    if (expected) {
      state = 'stopped'
      o.log.info('cloudflared stopped', { pid })
      return
    }
    const said = r.lastErrorLine ?? r.lastLine
    lastError = said ? `${why}: ${said}` : why
    failures = r.ready ? 0 : failures + 1
    streak = r.ready && Date.now() - r.startedAt >= o.maxDelayMs ? 1 : streak + 1
    if (o.maxFailures > 0 && failures >= o.maxFailures) {
      state = 'failed'
      o.log.error('cloudflared keeps failing; not restarting it', { pid, failures, error: lastError })
      return
    }
    const delay = Math.min(o.maxDelayMs, o.restartDelayMs * 2 ** Math.min(30, streak - 1))
    state = 'restarting'
    o.log.warn('cloudflared died; restarting', { pid, error: lastError, restart_in_ms: delay, restarts: restarts + 1 })
    timer = setTimeout(() => {
      restarts++
      start()
    }, delay)
    timer.unref?.()
  }

  return {
    start() {
      stopping = false
      failures = 0
      streak = 0
      start()
    },
    /** The current run reached its working state (it no longer counts towards maxFailures). */
    ready(r: Run) {
      if (r !== run || r.ready) return
      r.ready = true
      failures = 0
      if (!stopping) state = 'running'
    },
    /** SIGTERM to the group, SIGKILL after stopTimeoutMs; resolves once it is gone. */
    async stop() {
      stopping = true
      if (timer) clearTimeout(timer)
      timer = null
      const p = child
      if (!p?.pid) {
        state = 'stopped'
        return
      }
      killGroup(p.pid, 'SIGTERM')
      const kill = setTimeout(() => {
        o.log.warn('cloudflared did not stop in time; killing it', { pid: p.pid, after_ms: o.stopTimeoutMs })
        killGroup(p.pid!, 'SIGKILL')
      }, o.stopTimeoutMs)
      await exited
      clearTimeout(kill)
    },
    status(): SupervisorStatus {
      return { state, pid: child?.pid ?? null, restarts, lastError, startedAt: run?.startedAt ?? null }
    },
  }
}
export type Supervisor = ReturnType<typeof createSupervisor>
