/** Team-level numbers: reserved capacity over time (stats) and measured daily CPU/RAM (usage). */
import { invalid } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import { assertScope, callerTeam } from './access.ts'
import type { CapsuleContext } from './context.ts'
import { listCapsules, listUsage, teamLevels, teamPeaks } from './store.ts'

const STATS_RANGES: Record<string, number> = { '5m': 5 * 60_000, '1h': 3600_000, '6h': 6 * 3600_000, '24h': 24 * 3600_000, '30d': 30 * 86_400_000 }
const SERIES_POINTS = 30
const DAY_MS = 86_400_000
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/

type Level = { running: number; vcpus: number; memory_mb: number }

export type TeamStats = {
  range: string
  current: Level & { sampledAt: number }
  peaks: Level
  series: { labels: number[]; running: number[]; vcpus: number[]; memory_mb: number[] }
}

function parseDay(v: unknown, field: string): number | null {
  if (v === undefined || v === '') return null
  if (typeof v !== 'string' || !DATE_RE.test(v) || Number.isNaN(Date.parse(v + 'T00:00:00Z'))) throw invalid(`${field} must be a date YYYY-MM-DD`)
  return Date.parse(v + 'T00:00:00Z')
}

export function createStatsOps(ctx: CapsuleContext) {
  const { db, clock } = ctx
  return {
    /** Running count and reserved vCPUs/memory now, 30-day peaks, and a series over `range`. */
    async stats(p: Principal, range: unknown = '1h'): Promise<TeamStats> {
      assertScope(p, 'team', 'read')
      const teamId = callerTeam(p)
      if (typeof range !== 'string' || !(range in STATS_RANGES)) throw invalid(`range must be one of ${Object.keys(STATS_RANGES).join(', ')}`, 'invalid_range')
      const now = clock.now()
      const running = (await listCapsules(db, teamId)).filter((r) => r.status === 'running')
      const current = { running: running.length, vcpus: running.reduce((a, r) => a + r.vcpus, 0), memory_mb: running.reduce((a, r) => a + r.memory_mb, 0) }
      const pk = await teamPeaks(db, teamId, now - 30 * DAY_MS)
      const peaks = { running: Math.max(current.running, pk.running ?? 0), vcpus: Math.max(current.vcpus, pk.vcpus ?? 0), memory_mb: Math.max(current.memory_mb, pk.memory_mb ?? 0) }
      // Each point is the highest level reached within its bucket, so short spikes show.
      const span = STATS_RANGES[range]
      const step = span / SERIES_POINTS
      const since = now - span
      const { before, during } = await teamLevels(db, teamId, since)
      let level: Level = before ? { running: before.running, vcpus: before.vcpus, memory_mb: before.memory_mb } : { running: 0, vcpus: 0, memory_mb: 0 }
      const series: TeamStats['series'] = { labels: [], running: [], vcpus: [], memory_mb: [] }
      let k = 0
      for (let b = 0; b < SERIES_POINTS; b++) {
        const start = since + b * step
        const end = start + step
        const peak = { ...level }
        while (k < during.length && during[k].at < end) {
          level = { running: during[k].running, vcpus: during[k].vcpus, memory_mb: during[k].memory_mb }
          peak.running = Math.max(peak.running, level.running)
          peak.vcpus = Math.max(peak.vcpus, level.vcpus)
          peak.memory_mb = Math.max(peak.memory_mb, level.memory_mb)
          k++
        }
        series.labels.push(start)
        series.running.push(peak.running)
        series.vcpus.push(peak.vcpus)
        series.memory_mb.push(peak.memory_mb)
      }
      return { range, current: { ...current, sampledAt: now }, peaks, series }
    },

    /** Measured CPU minutes and RAM MB·minutes per UTC day (default: the last 30 days). */
    async usage(p: Principal, rawFrom: unknown, rawTo: unknown) {
      assertScope(p, 'team', 'read')
      const teamId = callerTeam(p)
      const today = Date.parse(new Date(clock.now()).toISOString().slice(0, 10) + 'T00:00:00Z')
      const to = parseDay(rawTo, 'to') ?? today
      const from = parseDay(rawFrom, 'from') ?? to - 30 * DAY_MS
      if (from > to) throw invalid('from must not be after to')
      if (to - from > 366 * DAY_MS) throw invalid('the range may cover at most 366 days')
      const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10)
      const rows = new Map((await listUsage(db, teamId, iso(from), iso(to))).map((r) => [r.day, r]))
      const points = []
      for (let t = from; t <= to; t += DAY_MS) {
        const r = rows.get(iso(t))
        points.push({ date: iso(t), cpuMinutes: r ? r.cpu_usec / 60e6 : 0, ramMbMinutes: r ? r.ram_mb_minutes : 0 })
      }
      return { from: iso(from), to: iso(to), points }
    },
  }
}
