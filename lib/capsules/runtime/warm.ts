/**
 * Warm entries: for a capsule in use, one nestbox-enter (enter.ts waiterArgv), or
 * a few when execs were announced to follow back to back, is started ahead of
 * time and waits inside the capsule for what to run. An exec
 * then costs writing that plus one exec, instead of a fork of nestbox (whose cost
 * grows with nestbox's memory) and entering.
 * A capsule left alone for `idleMs` gives its waiters up, so idle capsules cost
 * nothing extra.
 */
import type { ChildProcess } from 'node:child_process'
import type { Writable } from 'node:stream'
import { programPid, startEntered } from './exec.ts'

/** `aim`: an early waiter's fd 4, until it learns its capsule's pid 1 (enter.ts earlyWaiterArgv). */
type Waiter = { child: ChildProcess; timer: NodeJS.Timeout; hostPid: number | null; aim: Writable | null }

export function createWarmPool(o: { idleMs: number; enabled: boolean }) {
  /** Idle waiters per capsule, oldest first. */
  const idle = new Map<string, Waiter[]>()
  /** Execs announced to follow back to back (CapsuleSpec.firstExecs), per capsule, not yet launched. */
  const announced = new Map<string, number>()

  const drop = (id: string, w: Waiter) => {
    const list = idle.get(id)
    const i = list?.indexOf(w) ?? -1
    if (i < 0) return false
    list!.splice(i, 1)
    if (!list!.length) idle.delete(id)
    clearTimeout(w.timer)
    return true
  }
  // EOF on fd 3 with nothing written: nothing to run, it exits (an early one, still reading fd 4, on EOF there)
  const end = (w: Waiter) => {
    w.aim?.end()
    ;(w.child.stdio[3] as Writable).end()
  }

  const retire = (id: string) => {
    for (const w of idle.get(id) ?? []) (clearTimeout(w.timer), end(w))
    idle.delete(id)
    announced.delete(id)
  }

  return {
    /** Starts waiters for capsule `id` until `count` are idle; `early`: its pid 1 is not known yet (aim). */
    prime(id: string, argv: string[], count = 1, early = false) {
      if (!o.enabled) return
      for (let n = idle.get(id)?.length ?? 0; n < count; n++) {
        const child = startEntered(argv, early ? 2 : 1)
        const w: Waiter = { child, hostPid: null, timer: setTimeout(() => drop(id, w) && end(w), o.idleMs).unref(), aim: early ? (child.stdio[4] as Writable) : null }
        idle.set(id, [...(idle.get(id) ?? []), w])
        child.on('exit', () => drop(id, w))
        child.on('error', () => {})
        void programPid(child.pid!, () => child.exitCode === null).then((pid) => (w.hostPid = pid))
      }
    },

    /** An idle waiter of `id` (the oldest: the most likely entered by now), now running `run` (enter.ts runFor); null when there is none. */
    take(id: string, run: string): ChildProcess | null {
      for (const w of [...(idle.get(id) ?? [])]) {
        if (w.aim) continue // still waiting to learn its capsule (the boot goes on)
        drop(id, w)
        if (w.child.exitCode !== null || w.child.signalCode !== null) continue
        ;(w.child.stdio[3] as Writable).end(run)
        return w.child
      }
      return null
    },

    /** Tells the early waiters of `id` the capsule to enter (enter.ts aimAt); false if there were none. */
    aim(id: string, line: string): boolean {
      const early = (idle.get(id) ?? []).filter((w) => w.aim)
      for (const w of early) (w.aim!.end(line), (w.aim = null))
      return early.length > 0
    },

    /** `n` execs of capsule `id` will follow one another at once. */
    announce(id: string, n: number) {
      if (o.enabled && n > 0) announced.set(id, n)
    },

    /** One announced exec launches: how many are still to follow it. */
    launched(id: string): number {
      const n = (announced.get(id) ?? 1) - 1
      if (n > 0) announced.set(id, n)
      else announced.delete(id)
      return n
    },

    /** Host pids of idle waiters: not the capsule's own processes. */
    idleHostPids(id: string): number[] {
      return (idle.get(id) ?? []).flatMap((w) => (w.hostPid ? [w.hostPid] : []))
    },

    retire,
  }
}
export type WarmPool = ReturnType<typeof createWarmPool>
