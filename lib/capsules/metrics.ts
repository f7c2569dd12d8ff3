/**
 * Metrics sampler, in the Wrenn tiers: 500 ms samples kept 10 min (in memory, a
 * ring buffer per capsule), 30 s averages kept 2 h and 5 min averages kept 24 h
 * (persisted, so paused capsules and restarts keep them). One pass samples every
 * running capsule concurrently; per capsule it costs one runtime.metrics() call and
 * a few float writes, with no allocation per sample.
 */
import type { Db } from '../core/db.ts'
import { invalid } from '../core/errors.ts'
import type { Clock } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import type { Runtime } from './runtime/types.ts'
import { addUsage, deleteMetricsBefore, deleteMetricsOfCapsule, insertMetrics, listMetrics } from './store.ts'
import type { MetricRow } from './tables.ts'

export type MetricPoint = { ts: number; cpuPct: number; memBytes: number; diskBytes: number }

const HOT_KEEP_MS = 10 * 60_000
const TIERS = [
  { sec: 30, keepMs: 2 * 3600_000 },
  { sec: 300, keepMs: 24 * 3600_000 },
] as const
export const RANGES: Record<string, { ms: number; tierSec: 0 | 30 | 300 }> = {
  '5m': { ms: 5 * 60_000, tierSec: 0 },
  '10m': { ms: 10 * 60_000, tierSec: 0 },
  '1h': { ms: 3600_000, tierSec: 30 },
  '2h': { ms: 2 * 3600_000, tierSec: 30 },
  '6h': { ms: 6 * 3600_000, tierSec: 300 },
  '12h': { ms: 12 * 3600_000, tierSec: 300 },
  '24h': { ms: 24 * 3600_000, tierSec: 300 },
}

type Window = { start: number; n: number; cpu: number; mem: number; disk: number }
type Track = {
  id: string
  teamId: string
  vcpus: number
  running: boolean
  /** Ring of [ts, cpuPct, memBytes, diskBytes] × capacity. */
  ring: Float64Array
  head: number
  count: number
  lastUsec: number
  lastTs: number
  windows: Window[]
  /** Usage not yet written: CPU µs and MB·minutes. */
  usageUsec: number
  usageMbMin: number
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)

export function createMetricsSampler(d: { db: Db; runtime: Runtime; clock: Clock; log: Logger; intervalMs: number }) {
  const cap = Math.ceil(HOT_KEEP_MS / d.intervalMs)
  const tracks = new Map<string, Track>()
  let lastPrune = 0

  const window = (): Window[] => TIERS.map(() => ({ start: 0, n: 0, cpu: 0, mem: 0, disk: 0 }))

  function push(t: Track, ts: number, cpu: number, mem: number, disk: number) {
    const i = t.head * 4
    t.ring[i] = ts
    t.ring[i + 1] = cpu
    t.ring[i + 2] = mem
    t.ring[i + 3] = disk
    t.head = (t.head + 1) % cap
    if (t.count < cap) t.count++
  }

  /** Closes averaging windows that ended and persists them, with the usage accrued so far. */
  async function flush(force = false) {
    const now = d.clock.now()
    const rows: MetricRow[] = []
    const usage = new Map<string, { cpu: number; mbMin: number }>()
    for (const t of tracks.values()) {
      TIERS.forEach((tier, k) => {
        const w = t.windows[k]
        if (w.n > 0 && (force || now - w.start >= tier.sec * 1000)) {
          rows.push({ capsule_id: t.id, tier_sec: tier.sec, ts: w.start, cpu_pct: w.cpu / w.n, mem_bytes: Math.round(w.mem / w.n), disk_bytes: Math.round(w.disk / w.n) })
          t.windows[k] = { start: 0, n: 0, cpu: 0, mem: 0, disk: 0 }
        }
      })
      if (t.usageUsec > 0 || t.usageMbMin > 0) {
        const u = usage.get(t.teamId) ?? { cpu: 0, mbMin: 0 }
        u.cpu += t.usageUsec
        u.mbMin += t.usageMbMin
        usage.set(t.teamId, u)
        t.usageUsec = 0
        t.usageMbMin = 0
      }
    }
    await insertMetrics(d.db, rows)
    for (const [teamId, u] of usage) await addUsage(d.db, teamId, day(now), u.cpu, u.mbMin)
    if (now - lastPrune > 60_000) {
      lastPrune = now
      for (const tier of TIERS) await deleteMetricsBefore(d.db, tier.sec, now - tier.keepMs)
    }
  }

  return {
    /** Starts (or resumes) sampling a running capsule. */
    track(id: string, teamId: string, vcpus: number) {
      const t = tracks.get(id)
      if (t) {
        t.running = true
        t.lastTs = 0
        return
      }
      tracks.set(id, { id, teamId, vcpus, running: true, ring: new Float64Array(cap * 4), head: 0, count: 0, lastUsec: 0, lastTs: 0, windows: window(), usageUsec: 0, usageMbMin: 0 })
    },
    /** Stops sampling (paused); its data stays readable. */
    untrack(id: string) {
      const t = tracks.get(id)
      if (t) t.running = false
    },
    /** Drops everything about a destroyed capsule. */
    async forget(id: string) {
      tracks.delete(id)
      await deleteMetricsOfCapsule(d.db, id)
    },

    /** One sampling pass over every running capsule. */
    async tick(): Promise<{ sampled: number }> {
      const live = [...tracks.values()].filter((t) => t.running)
      const results = await Promise.allSettled(live.map((t) => d.runtime.metrics(t.id)))
      const now = d.clock.now()
      live.forEach((t, i) => {
        const r = results[i]
        if (r.status !== 'fulfilled') return
        const m = r.value
        let cpu = 0
        if (t.lastTs > 0 && now > t.lastTs) {
          const du = Math.max(0, m.cpuUsec - t.lastUsec)
          cpu = Math.min(100, (du / ((now - t.lastTs) * 1000) / t.vcpus) * 100)
          t.usageUsec += du
          t.usageMbMin += (m.memBytes / 1048576) * ((now - t.lastTs) / 60_000)
        }
        t.lastUsec = m.cpuUsec
        t.lastTs = now
        push(t, now, cpu, m.memBytes, m.diskBytes)
        for (const w of t.windows) {
          if (w.n === 0) w.start = now
          w.n++
          w.cpu += cpu
          w.mem += m.memBytes
          w.disk += m.diskBytes
        }
      })
      const due = [...tracks.values()].some((t) => t.windows.some((w, k) => w.n > 0 && now - w.start >= TIERS[k].sec * 1000)) || now - lastPrune > 60_000
      if (due) await flush()
      return { sampled: live.length }
    },

    flush: () => flush(true),

    /** The newest hot sample of a capsule. */
    latest(id: string): MetricPoint | null {
      const t = tracks.get(id)
      if (!t || t.count === 0) return null
      const i = ((t.head - 1 + cap) % cap) * 4
      return { ts: t.ring[i], cpuPct: t.ring[i + 1], memBytes: t.ring[i + 2], diskBytes: t.ring[i + 3] }
    },

    /** Points of one Wrenn range: hot ring for 5m/10m, persisted tiers beyond. */
    async series(id: string, range: string): Promise<MetricPoint[]> {
      const r = RANGES[range]
      if (!r) throw invalid(`range must be one of ${Object.keys(RANGES).join(', ')}`, 'invalid_range')
      const since = d.clock.now() - r.ms
      if (r.tierSec === 0) {
        const t = tracks.get(id)
        if (!t) return []
        const out: MetricPoint[] = []
        for (let k = t.count; k > 0; k--) {
          const i = ((t.head - k + cap) % cap) * 4
          if (t.ring[i] >= since) out.push({ ts: t.ring[i], cpuPct: t.ring[i + 1], memBytes: t.ring[i + 2], diskBytes: t.ring[i + 3] })
        }
        return out
      }
      const rows = await listMetrics(d.db, id, r.tierSec, since)
      return rows.map((m) => ({ ts: m.ts, cpuPct: m.cpu_pct, memBytes: m.mem_bytes, diskBytes: m.disk_bytes }))
    },

    get size() {
      return tracks.size
    },
  }
}
export type MetricsSampler = ReturnType<typeof createMetricsSampler>
