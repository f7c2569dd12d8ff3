/**
 * The event log and its live subscribers. Every streamed bus event (wire.ts) is
 * appended to SQLite in batches, then fanned out to the connected SSE clients of
 * its team (and admin clients). A client that reconnects with Last-Event-ID gets
 * what it missed from the log, in order and without duplicates, then live events.
 * A client that leaves more than `clientBufferKb` unread stops getting live frames
 * and catches up from the log as it drains; one that stays full `clientStallSec` is
 * disconnected. So a slow reader never holds memory or other clients up.
 */
import type { Config } from '../core/config/index.ts'
import type { Db } from '../core/db.ts'
import { forbidden, invalid, unauthorized } from '../core/errors.ts'
import type { BusEvent, EventBus } from '../core/events.ts'
import type { Clock } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import type { Principal } from '../core/principal.ts'
import { appendEvents, deleteEventsBefore, lastEventSeq, listEventsAfter, type LoggedEvent, type NewEvent } from './store.ts'
import { toWireEvent } from './wire.ts'

/** Where a client's frames go (an HTTP response); `buffered` = bytes written but not yet taken by the peer. */
export type StreamSink = { write: (s: string) => void; gone: () => boolean; buffered: () => number; drained: () => Promise<void>; close: () => void }
/** teamId undefined: every team and the platform (admin stream). */
export type StreamFilter = {
  teamId: string | undefined
  types: ((type: string) => boolean) | null
  /** Who opened the stream: it ends when their access goes (member removed, key deleted, session ended, team deleted). */
  who: { userId: string; keyId: string | null; sessionId: string | null }
}

/** `live`: frames are written as events are appended; `catchup`: the client reads from the log at its own pace. */
type Client = { filter: StreamFilter; sink: StreamSink; lastSeq: number; mode: 'live' | 'catchup'; closed: boolean }

const TYPE_RE = /^(\*|[a-z0-9_-]+(\.[a-z0-9_-]+)*(\.\*)?)$/
const REPLAY_PAGE = 500
/** Events appended per INSERT; the loop yields between slices. */
const SLICE = 200

export const frameOf = (e: Pick<LoggedEvent, 'seq' | 'type' | 'data'>) => `id: ${e.seq}\nevent: ${e.type}\ndata: ${e.data}\n\n`

export function createEventLog(d: { db: Db; bus: EventBus; clock: Clock; log: Logger; config: Config['events'] }) {
  const clients = new Set<Client>()
  const listeners: Array<(rows: LoggedEvent[]) => void> = []
  const limit = d.config.clientBufferKb * 1024
  const stallMs = d.config.clientStallSec * 1000
  /** Highest seq fanned out so far (null until the first append or open looked it up). */
  let fanned: number | null = null
  let pending: NewEvent[] = []
  let scheduled = false
  let chain: Promise<void> = Promise.resolve()
  let heartbeat: NodeJS.Timeout | undefined

  const matches = (f: StreamFilter, e: { team_id: string | null; type: string }) => (f.teamId === undefined || e.team_id === f.teamId) && (!f.types || f.types(e.type))

  const drop = (c: Client, why: string) => {
    if (c.closed) return
    c.closed = true
    clients.delete(c)
    d.log[why === 'shutdown' ? 'debug' : 'info']('event stream client disconnected', { why, team: c.filter.teamId ?? 'admin', last_seq: c.lastSeq })
    c.sink.close()
  }

  /** Waits until the client took its buffer below the limit; false (and disconnected) if it stays above for clientStallSec. */
  const room = async (c: Client): Promise<boolean> => {
    const deadline = Date.now() + stallMs
    while (!c.closed && !c.sink.gone() && c.sink.buffered() > limit) {
      const left = deadline - Date.now()
      if (left <= 0) {
        drop(c, 'stalled')
        break
      }
      let timer: NodeJS.Timeout | undefined
      await Promise.race([c.sink.drained(), new Promise((r) => (timer = setTimeout(r, Math.min(left, 250))))])
      clearTimeout(timer)
    }
    return !c.closed && !c.sink.gone()
  }

  /**
   * Sends the client everything after its lastSeq from the log, paced by its reads,
   * then switches it to live. Every event with seq <= `fanned` is committed, so a page
   * that ends the log and a synchronous check of `fanned` leave no gap at the switch.
   */
  const catchUp = async (c: Client) => {
    c.mode = 'catchup'
    try {
      for (;;) {
        if (!(await room(c))) return
        const high = fanned
        const rows = await listEventsAfter(d.db, c.filter.teamId, c.lastSeq, REPLAY_PAGE)
        for (const r of rows) {
          if (matches(c.filter, r)) c.sink.write(frameOf(r))
          c.lastSeq = r.seq
          if (c.sink.buffered() > limit && !(await room(c))) return
        }
        if (rows.length === REPLAY_PAGE) continue
        if (high != null && high > c.lastSeq) c.lastSeq = high
        if (fanned == null || fanned <= c.lastSeq) break
      }
      c.mode = 'live'
    } catch (err) {
      d.log.error('event stream catch-up failed', { err })
      drop(c, 'error')
    }
  }

  const deliver = (c: Client, seq: number, frame: string) => {
    if (c.closed || c.mode !== 'live' || seq <= c.lastSeq) return
    c.sink.write(frame)
    c.lastSeq = seq
    if (c.sink.buffered() > limit) void catchUp(c)
  }

  /** Appends and fans out in slices, yielding to the event loop between them: a burst never holds requests up for long. */
  const flush = async () => {
    scheduled = false
    const batch = pending
    pending = []
    for (let i = 0; i < batch.length; i += SLICE) {
      if (i) await new Promise((r) => setImmediate(r))
      let rows: LoggedEvent[]
      try {
        rows = await appendEvents(d.db, batch.slice(i, i + SLICE))
      } catch (err) {
        d.log.error('event log append failed', { err, events: Math.min(SLICE, batch.length - i) })
        continue
      }
      for (const r of rows) {
        const frame = frameOf(r)
        for (const c of clients) if (matches(c.filter, r)) deliver(c, r.seq, frame)
        fanned = r.seq
      }
      for (const l of listeners) {
        try {
          l(rows)
        } catch (err) {
          d.log.error('event log listener failed', { err })
        }
      }
    }
  }

  /** Streams whose opener just lost access end (they could not open them again). */
  const revoke = (e: BusEvent) => {
    const a = (e.data as { action?: string } | undefined)?.action
    let gone: (c: Client) => boolean
    if (e.type === 'team.delete') gone = (c) => c.filter.teamId === e.teamId
    else if (e.type !== 'audit') return
    else if (e.resourceType === 'member' && (a === 'remove' || a === 'leave')) gone = (c) => c.filter.teamId === e.teamId && c.filter.who.userId === e.resourceId
    else if (e.resourceType === 'api_key' && a === 'delete') gone = (c) => c.filter.who.keyId === e.resourceId
    else if (e.resourceType === 'session' && (a === 'revoke' || a === 'logout')) gone = (c) => c.filter.who.sessionId === e.resourceId
    else if (e.resourceType === 'session' && a === 'logout_all') gone = (c) => c.filter.who.sessionId !== null && c.filter.who.userId === e.resourceId
    else if (e.resourceType === 'user' && (a === 'deactivate' || a === 'delete' || a === 'revoke_admin')) gone = (c) => c.filter.who.userId === e.resourceId && (a !== 'revoke_admin' || c.filter.teamId === undefined)
    else return
    for (const c of [...clients]) if (gone(c)) drop(c, 'access_revoked')
  }

  d.bus.subscribe((e) => {
    revoke(e)
    const w = toWireEvent(e)
    if (!w) return
    pending.push({ team_id: w.teamId, type: w.type, data: JSON.stringify(w.data), created_at: e.at })
    if (scheduled) return
    scheduled = true
    // one insert per burst; appends stay in publish order because flushes are chained
    setImmediate(() => (chain = chain.then(flush)))
  })

  const beat = () => {
    for (const c of clients) if (c.mode === 'live') c.sink.write(': keepalive\n\n')
  }

  return {
    /** Checks who may open which stream and parses ?types= (comma-separated, `capsule.*` matches a prefix). */
    filterFor(p: Principal, scope: 'team' | 'admin', types: string | undefined): StreamFilter {
      if (p.kind !== 'user' && p.kind !== 'api_key') throw unauthorized()
      if (scope === 'admin' && !p.isAdmin) throw forbidden('platform admin access required', 'admin_required')
      if (scope === 'team' && (!p.teamId || !p.role)) throw forbidden('no active team; switch to a team first', 'no_team')
      let match: StreamFilter['types'] = null
      if (types !== undefined && types.trim() !== '') {
        const list = types.split(',').map((t) => t.trim()).filter(Boolean)
        const bad = list.find((t) => !TYPE_RE.test(t))
        if (bad !== undefined || list.length > 64) throw invalid(`types must be a comma-separated list of event types (e.g. capsule.create,capsule.*); bad: "${String(bad).slice(0, 64)}"`, 'invalid_types')
        const exact = new Set(list.filter((t) => !t.endsWith('*')))
        const prefixes = list.filter((t) => t.endsWith('*')).map((t) => t.slice(0, -1))
        match = (t) => exact.has(t) || prefixes.some((p) => t.startsWith(p))
      }
      const who = { userId: p.userId, keyId: p.kind === 'api_key' ? p.keyId : null, sessionId: p.kind === 'user' ? p.sessionId : null }
      return { teamId: scope === 'admin' ? undefined : (p.teamId as string), types: match, who }
    },

    /**
     * Starts streaming to `sink`: the `connected` sentinel (its id is where the stream
     * starts, so even a client cut before its first event can resume), then with
     * `lastEventId` every logged event after it, then live events. Returns the unsubscribe.
     */
    async open(filter: StreamFilter, sink: StreamSink, lastEventId: number | null): Promise<() => void> {
      if (fanned == null) {
        // first stream since start: after any flush in flight, the log's end is where live events begin
        await chain
        const end = await lastEventSeq(d.db)
        fanned ??= end
      }
      // a Last-Event-ID from a log that was since reset (or a made-up one) resumes from the present
      const from = lastEventId == null ? fanned : Math.min(lastEventId, fanned)
      const c: Client = { filter, sink, lastSeq: from, mode: 'live', closed: false }
      clients.add(c)
      heartbeat ??= setInterval(beat, d.config.heartbeatSec * 1000).unref()
      sink.write(`retry: ${d.config.retryMs}\nid: ${from}\nevent: connected\ndata: ${JSON.stringify({ event: 'connected', timestamp: new Date(d.clock.now()).toISOString() })}\n\n`)
      if (from < fanned) void catchUp(c)
      return () => {
        c.closed = true
        clients.delete(c)
      }
    },

    /** Called with every appended batch, after its SSE fan-out (channels queue deliveries here). */
    onAppend(fn: (rows: LoggedEvent[]) => void) {
      listeners.push(fn)
    },

    /** Resolves once every event published so far is in the log and fanned out. */
    async settled(): Promise<void> {
      while (scheduled || pending.length) await new Promise((r) => setImmediate(r))
      await chain
    },

    /** Deletes events older than the retention (the retention job). */
    async prune(): Promise<{ deleted: number }> {
      return { deleted: await deleteEventsBefore(d.db, d.clock.now() - d.config.retentionHours * 3_600_000) }
    },

    get clients() {
      return clients.size
    },

    /** Ends every stream (shutdown: clients reconnect elsewhere or later with Last-Event-ID). */
    async close(): Promise<void> {
      await this.settled().catch(() => {})
      clearInterval(heartbeat)
      heartbeat = undefined
      for (const c of [...clients]) drop(c, 'shutdown')
    },
  }
}
export type EventLog = ReturnType<typeof createEventLog>
