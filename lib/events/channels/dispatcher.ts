/**
 * Delivers logged events to the channels subscribed to them. Each (event, channel)
 * becomes a queued row in SQLite, so deliveries survive a restart (at least once);
 * at most `concurrency` are in flight, one per channel, so a broken channel only
 * delays itself. Network errors, 429 (honouring Retry-After), 408 and 5xx are
 * retried with exponential backoff up to `maxAttempts`; anything else fails at once.
 * A retryable failure also pauses the whole channel until that retry, so a dead
 * destination with thousands queued costs one attempt per backoff, not thousands.
 */
import type { Config } from '../../core/config/index.ts'
import type { Db } from '../../core/db.ts'
import { AppError } from '../../core/errors.ts'
import type { EventBus } from '../../core/events.ts'
import type { Clock, IdGen } from '../../core/ids.ts'
import type { Logger } from '../../core/logger.ts'
import type { Agent } from 'undici'
import type { LoggedEvent } from '../store.ts'
import type { DeliveryRow } from '../tables.ts'
import { parseDestination } from './destination.ts'
import { buildRequest, destinationOf, isProvider } from './providers.ts'
import { attempt, type Attempt } from './send.ts'
import type { ChannelService } from './service.ts'
import { dueDeliveries, findChannelById, insertDeliveries, nextDueAt, updateDelivery } from './store.ts'

type Deps = { db: Db; clock: Clock; ids: IdGen; log: Logger; bus: EventBus; channels: ChannelService; agent: Agent; settings: Config['events']['channels'] }

export function createDispatcher(d: Deps) {
  const s = d.settings
  const busy = new Set<string>()
  /** Channel → when it may be tried again (after a retryable failure); in memory, a restart tries once more. */
  const paused = new Map<string, number>()
  const inflight = new Set<Promise<void>>()
  let chain: Promise<void> = Promise.resolve()
  let pumping = false
  let again = false
  let stopped = true
  let timer: NodeJS.Timeout | undefined

  const backoff = (attempts: number) => Math.min(s.retryMaxMs, s.retryBaseMs * 2 ** (attempts - 1) * (0.8 + Math.random() * 0.4))

  async function enqueue(rows: LoggedEvent[]) {
    const teams = [...new Set(rows.map((r) => r.team_id).filter((t): t is string => t != null))]
    if (!teams.length) return
    const subs = await d.channels.subscribers(teams)
    const now = d.clock.now()
    const out: DeliveryRow[] = []
    for (const r of rows) {
      if (r.team_id == null) continue
      for (const ch of subs.get(r.team_id) ?? [])
        if (ch.events.has(r.type))
          out.push({ id: d.ids.id('dlv-', 16), channel_id: ch.id, team_id: r.team_id, event_seq: r.seq, event_type: r.type, payload: r.data, status: 'queued', attempts: 0, next_attempt_at: now, last_status: null, last_error: null, created_at: now, updated_at: now })
    }
    if (!out.length) return
    await insertDeliveries(d.db, out)
    kick()
  }

  async function deliver(row: DeliveryRow): Promise<void> {
    const ch = await findChannelById(d.db, row.channel_id)
    if (!ch || !isProvider(ch.provider)) return // deleted meanwhile: its rows went with it
    const attempts = row.attempts + 1
    let res: Attempt
    try {
      const cfg = d.channels.configOf(ch)
      parseDestination(destinationOf(ch.provider, cfg, s), 'destination', s.allowPrivateDestinations)
      res = await attempt(d.agent, buildRequest(ch.provider, cfg, row.payload, row.id, s, new Date(d.clock.now())), s.timeoutMs)
    } catch (err) {
      if (!(err instanceof AppError)) d.log.error('channel delivery failed', { err, channel: ch.id })
      res = { ok: false, status: null, error: err instanceof AppError ? err.message : 'the channel config could not be read', retry: false }
    }
    const now = d.clock.now()
    if (res.ok) {
      paused.delete(ch.id)
      await updateDelivery(d.db, row.id, { status: 'delivered', attempts, last_status: res.status, last_error: null, updated_at: now })
      return
    }
    const retry = res.retry && attempts < s.maxAttempts
    const delay = res.retryAfterMs !== undefined ? Math.min(res.retryAfterMs, 86_400_000) : backoff(attempts)
    if (res.retry) paused.set(ch.id, now + delay)
    await updateDelivery(d.db, row.id, { status: retry ? 'queued' : 'failed', attempts, last_status: res.status, last_error: res.error, next_attempt_at: retry ? now + delay : row.next_attempt_at, updated_at: now })
    if (!retry) {
      d.log.warn('channel delivery given up', { channel: ch.id, event: row.event_type, attempts, error: res.error })
      d.bus.publish({ type: 'channel.delivery.failed', teamId: ch.team_id, resourceType: 'channel', resourceId: ch.id, data: { outcome: 'error', error: res.error, metadata: { name: ch.name, provider: ch.provider, event: row.event_type, attempts: String(attempts) } } })
    }
  }

  function start(row: DeliveryRow) {
    busy.add(row.channel_id)
    const p: Promise<void> = deliver(row)
      .catch((err) => d.log.error('channel delivery bookkeeping failed', { err, delivery: row.id }))
      .finally(() => {
        busy.delete(row.channel_id)
        inflight.delete(p)
        kick()
      })
    inflight.add(p)
  }

  /** Channels not to pick now: in flight, or paused after a failure (expired pauses are dropped). */
  const skipped = (now: number) => {
    for (const [id, until] of paused) if (until <= now) paused.delete(id)
    return [...busy, ...paused.keys()]
  }

  async function pump() {
    if (pumping) return void (again = true)
    pumping = true
    try {
      do {
        again = false
        const free = s.concurrency - inflight.size
        if (stopped || free <= 0) break
        const now = d.clock.now()
        for (const row of await dueDeliveries(d.db, now, skipped(now), free)) if (!stopped) start(row)
      } while (again)
      clearTimeout(timer)
      if (stopped) return
      // wake for the next row due of a free channel, or when a paused channel may be tried again
      // (rows of busy channels need no timer: a finished delivery kicks the pump)
      const now = d.clock.now()
      const skip = skipped(now)
      const at = Math.min((await nextDueAt(d.db, skip)) ?? Infinity, ...paused.values())
      if (Number.isFinite(at) && !stopped) timer = setTimeout(kick, Math.min(60_000, Math.max(at - now, 10))).unref()
    } catch (err) {
      d.log.error('channel dispatcher failed', { err })
    } finally {
      pumping = false
    }
  }

  function kick() {
    if (!stopped) void pump()
  }

  return {
    /** Queues deliveries for a batch of logged events (the event log's onAppend). */
    onAppend(rows: LoggedEvent[]) {
      chain = chain.then(() => enqueue(rows)).catch((err) => d.log.error('queueing channel deliveries failed', { err }))
    },
    /** Starts delivering, including what was queued before a restart. */
    start() {
      stopped = false
      kick()
    },
    /** Waits for queueing to finish (tests, benchmarks). */
    settled: () => chain,
    async stop() {
      stopped = true
      clearTimeout(timer)
      await chain
      await Promise.allSettled([...inflight])
    },
  }
}
export type Dispatcher = ReturnType<typeof createDispatcher>
