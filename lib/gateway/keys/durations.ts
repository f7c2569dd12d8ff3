/**
 * LiteLLM durations ("30s", "30m", "30h", "30d", "1mo") and budget reset times.
 * compat(litellm): budgets of 1d, 7d and 30d (1mo) reset on calendar boundaries in
 * the configured timezone — midnight, Monday midnight, the 1st — and shorter or
 * other durations roll from the moment they are set.
 */
const UNIT: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, mo: 30 * 86_400_000 }

/** Milliseconds of a duration string, or null when it is not one. */
export function parseDuration(v: unknown): number | null {
  if (typeof v !== 'string') return null
  const m = /^(\d+)\s*(s|m|h|d|w|mo)$/.exec(v.trim())
  return m && Number(m[1]) > 0 ? Number(m[1]) * UNIT[m[2]] : null
}

/** Wall-clock fields of instant `t` in `tz`. */
function localParts(t: number, tz: string) {
  const f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'short' })
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]))
  return { y: +p.year, mo: +p.month, d: +p.day, h: +p.hour, mi: +p.minute, s: +p.second, wd: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(p.weekday) }
}

/** The instant of local midnight starting day (y, mo, d) in `tz` (DST-safe: offset recomputed at the guess). */
function localMidnight(y: number, mo: number, d: number, tz: string): number {
  const wall = Date.UTC(y, mo - 1, d)
  let t = wall
  for (let i = 0; i < 3; i++) {
    const p = localParts(t, tz)
    const offset = Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi, p.s) - t
    t = wall - offset
  }
  return t
}

/** When a budget set at `now` with `duration` next resets, or null for an unknown duration. */
export function nextBudgetReset(duration: string, now: number, tz: string): number | null {
  const v = duration.trim()
  const p = localParts(now, tz)
  if (v === '1d' || v === '24h') return localMidnight(p.y, p.mo, p.d + 1, tz)
  if (v === '7d' || v === '1w') return localMidnight(p.y, p.mo, p.d + (((8 - p.wd) % 7) || 7), tz)
  if (v === '30d' || v === '1mo') return localMidnight(p.y, p.mo + 1, 1, tz)
  const ms = parseDuration(v)
  return ms === null ? null : now + ms
}

/** Whether `tz` is a timezone this runtime knows. */
export function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz })
    return true
  } catch {
    return false
  }
}
