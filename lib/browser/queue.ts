/**
 * Who gets which replica next. compat(stealthy-auto-browse 000, its HAProxy):
 * one request at a time per replica; a sticky request waits for its own
 * replica; any other takes a free one or waits in one shared queue for the
 * first that frees; a wait longer than the queue timeout fails with 503.
 * Pure scheduling: starting and replacing browsers is service.ts's.
 */
import { AppError } from '../core/errors.ts'

type Waiter<R> = { resolve: (r: R) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
type Member<R> = { r: R; busy: boolean; waiting: Array<Waiter<R>>; lastUsed: number }

export type QueueDeps = {
  timeoutMs: number
  /** Called when a request finds no free replica: the pool may start another. */
  grow: (waiting: number) => void
  now: () => number
}

export function createQueue<R extends { id: string }>(d: QueueDeps) {
  const members = new Map<string, Member<R>>()
  const shared: Array<Waiter<R>> = []

  const take = (m: Member<R>, w: Waiter<R>) => {
    clearTimeout(w.timer)
    m.busy = true
    m.lastUsed = d.now()
    w.resolve(m.r)
  }
  /** A free replica serves its own sticky waiters first, then the shared queue. */
  const dispatch = (m: Member<R>) => {
    if (m.busy || members.get(m.r.id) !== m) return
    const w = m.waiting.shift() ?? shared.shift()
    if (w) take(m, w)
  }

  function wait(list: Array<Waiter<R>>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const w: Waiter<R> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = list.indexOf(w)
          if (i >= 0) list.splice(i, 1)
          reject(new AppError(503, 'queue_timeout', `no browser replica became free within ${Math.round(d.timeoutMs / 1000)} s`))
        }, d.timeoutMs),
      }
      list.push(w)
    })
  }

  return {
    /** A replica for one request: `sticky` (a replica id) waits for that replica when it is in the pool. */
    acquire(sticky: string | null): Promise<R> {
      const own = sticky ? members.get(sticky) : undefined
      if (own) {
        if (!own.busy && !own.waiting.length) return (own.busy = true, own.lastUsed = d.now(), Promise.resolve(own.r))
        return wait(own.waiting)
      }
      // least busy: a free replica, the one unused the longest (spreads new clients)
      let best: Member<R> | null = null
      for (const m of members.values()) if (!m.busy && !m.waiting.length && (!best || m.lastUsed < best.lastUsed)) best = m
      if (best) return (best.busy = true, best.lastUsed = d.now(), Promise.resolve(best.r))
      const p = wait(shared)
      d.grow(shared.length)
      return p
    },

    release(r: R) {
      const m = members.get(r.id)
      if (!m || m.r !== r) return
      m.busy = false
      dispatch(m)
    },

    /** A replica ready to serve. */
    add(r: R) {
      const m: Member<R> = { r, busy: false, waiting: [], lastUsed: 0 }
      members.set(r.id, m)
      dispatch(m)
    },

    /** A replica leaves: its sticky waiters fail with `err`, shared waiters stay queued. */
    remove(id: string, err: Error) {
      const m = members.get(id)
      if (!m) return
      members.delete(id)
      for (const w of m.waiting.splice(0)) {
        clearTimeout(w.timer)
        w.reject(err)
      }
    },

    /** Fails every shared waiter (the pool cannot start any replica). */
    failShared(err: Error) {
      for (const w of shared.splice(0)) {
        clearTimeout(w.timer)
        w.reject(err)
      }
    },

    has: (id: string) => members.has(id),
    state: (id: string) => {
      const m = members.get(id)
      return m ? { busy: m.busy, queued: m.waiting.length } : null
    },
    sharedWaiting: () => shared.length,
  }
}
export type Queue<R extends { id: string }> = ReturnType<typeof createQueue<R>>
