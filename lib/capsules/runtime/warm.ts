/**
 * Warm entries: for a capsule in use, one nestbox-enter (enter.ts waiterArgv) is
 * started ahead of time and waits inside the capsule for what to run. An exec
 * then costs writing that plus one exec, instead of a fork of nestbox (whose cost
 * grows with nestbox's memory) and entering.
 * A capsule left alone for `idleMs` gives its waiter up, so idle capsules cost
 * nothing extra.
 */
import type { ChildProcess } from 'node:child_process'
import type { Writable } from 'node:stream'
import { programPid, startEntered } from './exec.ts'

type Waiter = { child: ChildProcess; timer: NodeJS.Timeout; hostPid: number | null }

export function createWarmPool(o: { idleMs: number; enabled: boolean }) {
  const idle = new Map<string, Waiter>()

  const retire = (id: string) => {
    const w = idle.get(id)
    if (!w) return
    idle.delete(id)
    clearTimeout(w.timer)
    // EOF on fd 3 with nothing written: nothing to run, it exits
    ;(w.child.stdio[3] as Writable).end()
  }

  return {
    /** Starts a waiter for capsule `id` unless one is idle already. */
    prime(id: string, argv: string[]) {
      if (!o.enabled || idle.has(id)) return
      const child = startEntered(argv, true)
      const w: Waiter = { child, hostPid: null, timer: setTimeout(() => retire(id), o.idleMs).unref() }
      idle.set(id, w)
      child.on('exit', () => {
        if (idle.get(id) === w) {
          idle.delete(id)
          clearTimeout(w.timer)
        }
      })
      child.on('error', () => {})
      void programPid(child.pid!, () => child.exitCode === null).then((pid) => (w.hostPid = pid))
    },

    /** The idle waiter of `id`, now running `run` (enter.ts runFor); null when there is none. */
    take(id: string, run: string): ChildProcess | null {
      const w = idle.get(id)
      if (!w || w.child.exitCode !== null || w.child.signalCode !== null) return null
      idle.delete(id)
      clearTimeout(w.timer)
      ;(w.child.stdio[3] as Writable).end(run)
      return w.child
    },

    /** Host pids of idle waiters: not the capsule's own processes. */
    idleHostPids(id: string): number[] {
      const w = idle.get(id)
      return w?.hostPid ? [w.hostPid] : []
    },

    retire,
  }
}
export type WarmPool = ReturnType<typeof createWarmPool>
