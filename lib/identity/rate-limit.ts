/**
 * In-memory sliding-window limiter (one process serves the API). Keys are e.g.
 * "ip:1.2.3.4" or "acct:alice@example.com"; each remembers at most `limit`
 * timestamps, and idle keys are swept so memory stays bounded.
 */
import type { Clock } from '../core/ids.ts'

export function createRateLimiter(d: { limit: number; windowMs: number; clock: Clock }) {
  const hits = new Map<string, number[]>()
  let calls = 0

  const live = (key: string, now: number): number[] => {
    const list = hits.get(key)
    if (!list) return []
    while (list.length && list[0] <= now - d.windowMs) list.shift()
    if (!list.length) hits.delete(key)
    return list
  }
  const sweep = (now: number) => {
    if (++calls % 1024) return
    for (const key of [...hits.keys()]) live(key, now)
  }
  const wait = (list: number[], now: number) => (list.length >= d.limit ? (list[0] + d.windowMs - now) / 1000 : 0)

  return {
    /** Seconds to wait before `key` may try again (0 = allowed now); does not count an attempt. */
    retryAfter(key: string): number {
      const now = d.clock.now()
      return wait(live(key, now), now)
    },
    /** Counts one attempt if allowed; returns seconds to wait when the key is over its limit (nothing counted). */
    take(key: string): number {
      const now = d.clock.now()
      sweep(now)
      const list = live(key, now)
      const w = wait(list, now)
      if (w > 0) return w
      list.push(now)
      hits.set(key, list)
      return 0
    },
    reset(key: string) {
      hits.delete(key)
    },
  }
}
export type RateLimiter = ReturnType<typeof createRateLimiter>
