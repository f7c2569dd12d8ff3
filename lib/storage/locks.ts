/**
 * Per-object read-write locks: many readers or one writer per (bucket, key).
 * compat(hybrids3 000): a lock waits at most acquireTimeoutMs, is held at most
 * holdTimeoutMs, and at most maxWaiters queue per key; each limit answers 503.
 * Waiters are served in arrival order, so a stream of readers cannot starve a writer.
 */
import { AppError } from '../core/errors.ts'

export type LockLimits = { acquireTimeoutMs: number; holdTimeoutMs: number; maxWaiters: number }

/** A granted lock. `signal` aborts when the hold limit expires; the lock is then already released. */
export type Held = { release: () => void; signal: AbortSignal }

type Mode = 'read' | 'write'
type Waiter = { mode: Mode; grant: () => void; timer: NodeJS.Timeout }
type State = { readers: number; writer: boolean; queue: Waiter[] }

const busy = (message: string) => new AppError(503, 'ServiceUnavailable', message, { headers: { 'Retry-After': '1' } })

export function createLocks(limits: LockLimits) {
  const states = new Map<string, State>()

  const cleanup = (name: string, s: State) => {
    if (!s.writer && s.readers === 0 && s.queue.length === 0) states.delete(name)
  }

  const canGrant = (s: State, mode: Mode) => (mode === 'write' ? !s.writer && s.readers === 0 : !s.writer)

  const drain = (name: string, s: State) => {
    while (s.queue.length && canGrant(s, s.queue[0].mode)) {
      const w = s.queue.shift()!
      clearTimeout(w.timer)
      w.grant()
      if (w.mode === 'write') break
    }
    cleanup(name, s)
  }

  const hold = (name: string, s: State, mode: Mode): Held => {
    if (mode === 'write') s.writer = true
    else s.readers++
    const ctrl = new AbortController()
    let released = false
    const release = () => {
      if (released) return
      released = true
      clearTimeout(timer)
      if (mode === 'write') s.writer = false
      else s.readers--
      drain(name, s)
    }
    const timer = setTimeout(() => {
      release()
      ctrl.abort(busy(`lock on ${name} held longer than ${limits.holdTimeoutMs} ms`))
    }, limits.holdTimeoutMs)
    timer.unref()
    return { release, signal: ctrl.signal }
  }

  const acquire = (name: string, mode: Mode): Promise<Held> => {
    let s = states.get(name)
    if (!s) states.set(name, (s = { readers: 0, writer: false, queue: [] }))
    const state = s
    if (state.queue.length === 0 && canGrant(state, mode)) return Promise.resolve(hold(name, state, mode))
    if (state.queue.length >= limits.maxWaiters) return Promise.reject(busy(`too many requests waiting for ${name}`))
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        mode,
        grant: () => resolve(hold(name, state, mode)),
        timer: setTimeout(() => {
          state.queue.splice(state.queue.indexOf(w), 1)
          drain(name, state)
          reject(busy(`timed out after ${limits.acquireTimeoutMs} ms waiting for the lock on ${name}`))
        }, limits.acquireTimeoutMs),
      }
      state.queue.push(w)
    })
  }

  return {
    read: (bucket: string, key: string) => acquire(`${bucket}/${key}`, 'read'),
    write: (bucket: string, key: string) => acquire(`${bucket}/${key}`, 'write'),
    /** Locks currently held or awaited (for tests and diagnostics). */
    size: () => states.size,
  }
}
export type Locks = ReturnType<typeof createLocks>
