/**
 * Terminals inside a capsule: node-pty allocates the pseudo-terminal on the host
 * and starts nestbox-enter as exec does (enter.ts) on its slave side, so the
 * shell runs in the capsule's namespaces, cgroups and uid range with the pty as
 * its controlling terminal.
 */
import pty from 'node-pty'
import { readTailBeforeDestroy } from './drain.ts'
import { enterHelperPath } from './enter-helper.ts'
import { nsPid, programPid } from './exec.ts'
import type { PtyHandle } from './types.ts'

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }
/** Output kept for the first listener before the terminal is paused. */
const EARLY_MAX = 256 << 10

export async function startPty(argv: string[], size: { cols: number; rows: number }): Promise<PtyHandle & { hostPid: number | null }> {
  const term = pty.spawn(enterHelperPath(), argv, { name: 'xterm-256color', cols: size.cols, rows: size.rows, cwd: '/', env: {}, encoding: null } as pty.IPtyForkOptions)
  const listeners = new Set<(d: Buffer) => void>()
  let running = true
  // Output before the first listener (the session subscribes once this resolves, after
  // programPid) is kept for it, not dropped: a command's first line comes that early.
  // Past EARLY_MAX the terminal is paused until then.
  let early: Buffer[] | null = []
  let earlyBytes = 0
  const deliver = (b: Buffer) => {
    if (!early) return listeners.forEach((f) => f(b))
    early.push(b)
    if ((earlyBytes += b.length) > EARLY_MAX) term.pause()
  }
  term.onData((d) => deliver(typeof d === 'string' ? Buffer.from(d) : Buffer.from(d as unknown as Uint8Array)))
  readTailBeforeDestroy(term, deliver)
  const exited = new Promise<number>((resolve) =>
    term.onExit(({ exitCode, signal }) => {
      running = false
      resolve(signal ? 128 + signal : exitCode)
    }),
  )
  const hostPid = await programPid(term.pid, () => running)
  // only the shell: nestbox-enter above it must stay to reap it (see signalProgram)
  const kill = (signal: 'SIGTERM' | 'SIGKILL' | 'SIGHUP' = 'SIGKILL') => {
    if (!running || !hostPid) return
    try {
      process.kill(hostPid, SIGNALS[signal] ? signal : 'SIGKILL')
    } catch {
      // already gone
    }
  }
  return {
    pid: (hostPid && nsPid(hostPid)) ?? -1,
    hostPid,
    exited,
    onData(fn) {
      listeners.add(fn)
      if (early) {
        const kept = early
        early = null
        kept.forEach(fn)
        if (earlyBytes > EARLY_MAX) term.resume()
      }
      return () => listeners.delete(fn)
    },
    write(data) {
      if (running) term.write(typeof data === 'string' ? data : Buffer.from(data))
    },
    resize(cols, rows) {
      if (running) term.resize(Math.max(1, cols), Math.max(1, rows))
    },
    kill,
    pause: () => term.pause(),
    resume: () => term.resume(),
  }
}

