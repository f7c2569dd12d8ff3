/**
 * A small time-bounded cache for hot read paths (API-key resolution, profiles).
 * Entries live `ttlMs` at most; identity clears the caches on every audited
 * change to users, members, teams or keys, so the TTL only bounds staleness
 * against writers outside this process.
 */
import type { Clock } from '../core/ids.ts'

export function createTtlCache<V>(d: { ttlMs: number; max: number; clock: Clock }) {
  const map = new Map<string, { v: V; at: number }>()
  return {
    get(key: string): V | undefined {
      const hit = map.get(key)
      if (!hit) return undefined
      if (d.clock.now() - hit.at >= d.ttlMs) {
        map.delete(key)
        return undefined
      }
      return hit.v
    },
    set(key: string, v: V) {
      if (map.size >= d.max) map.clear() // crude but bounded; a full cache only costs a few lookups
      map.set(key, { v, at: d.clock.now() })
    },
    delete: (key: string) => map.delete(key),
    clear: () => map.clear(),
  }
}
