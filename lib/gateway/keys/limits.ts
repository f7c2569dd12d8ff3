/**
 * rpm / tpm / max_parallel_requests counters in memory, per minute window, for
 * keys, teams and deployments: admission is a few Map lookups, never a query.
 * (Behind this small interface so a shared store can replace it when several
 * nestbox instances serve one gateway.)
 */
import type { Clock } from '../../core/ids.ts'
import { rateLimited } from '../errors.ts'

export type Limit = { rpm: number | null; tpm: number | null; parallel: number | null }
type Win = { minute: number; requests: number; tokens: number; inflight: number }

export function createLimits(clock: Clock) {
  const wins = new Map<string, Win>()
  const minute = () => Math.floor(clock.now() / 60_000)
  const win = (id: string): Win => {
    const m = minute()
    let w = wins.get(id)
    if (!w) wins.set(id, (w = { minute: m, requests: 0, tokens: 0, inflight: 0 }))
    else if (w.minute !== m) {
      w.minute = m
      w.requests = 0
      w.tokens = 0
    }
    return w
  }
  const toNextMinute = () => (60_000 - (clock.now() % 60_000)) / 1000

  return {
    /** Whether one more request fits under `l` for `id` (no side effect). */
    fits(id: string, l: Limit): boolean {
      const w = win(id)
      return !((l.rpm !== null && w.requests >= l.rpm) || (l.tpm !== null && w.tokens >= l.tpm) || (l.parallel !== null && w.inflight >= l.parallel))
    },
    /** Throws 429 (with retry-after) when one more request does not fit under `l`; `what` names it in the message. */
    check(id: string, l: Limit, what: string) {
      const w = win(id)
      if (l.parallel !== null && w.inflight >= l.parallel) throw rateLimited(`Max parallel request limit reached for ${what}: ${l.parallel} in flight.`, 1)
      if (l.rpm !== null && w.requests >= l.rpm) throw rateLimited(`Rate limit reached for ${what}: ${l.rpm} requests per minute.`, toNextMinute())
      if (l.tpm !== null && w.tokens >= l.tpm) throw rateLimited(`Rate limit reached for ${what}: ${l.tpm} tokens per minute.`, toNextMinute())
    },
    /** Counts a request as started. */
    take(id: string) {
      const w = win(id)
      w.requests++
      w.inflight++
    },
    /** Counts a request as done, with the tokens it used. */
    release(id: string, tokens: number) {
      const w = win(id)
      w.inflight = Math.max(0, w.inflight - 1)
      w.tokens += tokens
    },
    /** x-ratelimit-* headers for `id` under `l` (only the limits that are set). */
    headers(id: string, l: Limit): Record<string, string> {
      const w = win(id)
      const h: Record<string, string> = {}
      const reset = `${Math.ceil(toNextMinute())}s`
      if (l.rpm !== null) Object.assign(h, { 'x-ratelimit-limit-requests': String(l.rpm), 'x-ratelimit-remaining-requests': String(Math.max(0, l.rpm - w.requests)), 'x-ratelimit-reset-requests': reset })
      if (l.tpm !== null) Object.assign(h, { 'x-ratelimit-limit-tokens': String(l.tpm), 'x-ratelimit-remaining-tokens': String(Math.max(0, l.tpm - w.tokens)), 'x-ratelimit-reset-tokens': reset })
      return h
    },
    /** Drops idle windows of past minutes (periodic). */
    sweep() {
      const m = minute()
      for (const [id, w] of wins) if (w.minute < m && w.inflight === 0) wins.delete(id)
    },
  }
}
export type Limits = ReturnType<typeof createLimits>
