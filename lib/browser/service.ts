/**
 * The browser pool: up to `browser.replicas` replicas, each started on first
 * need and then kept; requests go through the queue (queue.ts). A replica whose
 * browser dies or that exceeds its memory is replaced by a new one (a new id,
 * the same profile slot and fingerprint); a client stuck to the old one gets
 * one clear error instead of a hang, then lands on any replica.
 */
import type { Cookie } from 'playwright-core'
import { AppError } from '../core/errors.ts'
import type { Config } from '../core/config/index.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import type { CapsuleService } from '../capsules/service.ts'
import { createQueue } from './queue.ts'
import { startReplica, type Replica } from './replica.ts'

type Slot = { index: number; state: 'starting' | 'restarting' | 'ready'; replica: Replica | null }

export type PoolDeps = {
  capsules: CapsuleService
  cfg: Config['browser']
  log: Logger
  clock: Clock
  ids: IdGen
  /** The team the replicas' capsules belong to (known once the server started). */
  teamId: () => string | null
  /** Starts one replica (replica.ts; tests of the queue may pass another). */
  start?: typeof startReplica
}

/** How many replaced replica ids are remembered for their sticky clients' one error. */
const GONE_KEPT = 1000

export const replicaGone = (id: string, why: string) => new AppError(503, 'replica_replaced', `browser replica ${id} was replaced (${why}); send the request again to continue on another replica`)

const diedDuring = (why: string) => new AppError(503, 'replica_died', `the browser replica died during this request (${why}); it is being replaced`)

export function createBrowserPool(d: PoolDeps) {
  const start = d.start ?? startReplica
  const slots: Slot[] = []
  const gone = new Map<string, string>()
  let closed = false
  // shared-cookie mode: the newest jar and which version each replica holds
  let jar: { version: number; cookies: Cookie[] } = { version: 0, cookies: [] }
  const jarSeen = new WeakMap<Replica, number>()

  const queue = createQueue<Replica>({ timeoutMs: d.cfg.queueTimeoutSec * 1000, now: d.clock.now, grow })

  function grow(waiting: number) {
    const starting = slots.filter((s) => s.state !== 'ready').length
    if (closed || starting >= waiting) return
    const free = Array.from({ length: d.cfg.replicas }, (_, i) => i).find((i) => !slots.some((s) => s.index === i))
    if (free === undefined) return
    const slot: Slot = { index: free, state: 'starting', replica: null }
    slots.push(slot)
    void fill(slot)
  }

  async function fill(slot: Slot) {
    const teamId = d.teamId()
    try {
      if (!teamId) throw new AppError(503, 'no_team', 'the browser pool has no team yet')
      const r = await start({ capsules: d.capsules, teamId, cfg: d.cfg, log: d.log }, d.ids.id('br-', 8), `profile-${slot.index + 1}`)
      if (closed) return void (await r.close())
      slot.replica = r
      slot.state = 'ready'
      d.log.info('browser replica ready', { replica: r.id, capsule: r.capsuleId, profile: r.profile })
      void r.died.then((why) => replace(slot, r, why))
      queue.add(r)
    } catch (err) {
      slots.splice(slots.indexOf(slot), 1)
      // nothing can serve the queued requests: fail them now rather than at the queue timeout
      if (!slots.length) queue.failShared(err instanceof AppError ? err : new AppError(503, 'replica_unavailable', 'a browser replica could not be started'))
      else if (queue.sharedWaiting()) grow(queue.sharedWaiting())
    }
  }

  /** Takes a dead (or oversized) replica out and starts its successor in the same slot. */
  async function replace(slot: Slot, r: Replica, why: string) {
    if (closed || slot.replica !== r) return
    slot.replica = null
    slot.state = 'restarting'
    gone.set(r.id, why)
    if (gone.size > GONE_KEPT) gone.delete(gone.keys().next().value!)
    queue.remove(r.id, replicaGone(r.id, why))
    d.log.warn('browser replica replaced', { replica: r.id, capsule: r.capsuleId, why })
    await r.close()
    if (closed) return
    slot.state = 'starting'
    await fill(slot)
  }

  /** The replica's share of its memory limit, from the newest metrics sample (0 before the first). */
  const memoryShare = (r: Replica) => (r.memoryBytes() ?? 0) / (d.cfg.memoryMb * 1024 * 1024)
  const overMemory = (r: Replica) => memoryShare(r) > 1
  // Past 60% of its memory a replica's tab is collected before the next request: its renderer would
  // otherwise grow with garbage into the capsule's OOM kill. At most once a second (metrics are sampled every 500 ms).
  const lastCollected = new WeakMap<Replica, number>()
  const shouldCollect = (r: Replica) => memoryShare(r) > 0.6 && Date.now() - (lastCollected.get(r) ?? 0) > 1000

  async function syncCookies(r: Replica) {
    if (!d.cfg.shareCookies || (jarSeen.get(r) ?? 0) === jar.version) return
    await r.context.clearCookies()
    if (jar.cookies.length) await r.context.addCookies(jar.cookies)
    jarSeen.set(r, jar.version)
  }

  return {
    /**
     * Runs `fn` on a replica (the `sticky` one when it is in the pool) while no
     * other request uses it. A replica replaced since the client was stuck to it
     * fails once with 503; one that dies during `fn` fails the request with 503.
     */
    async run<T>(sticky: string | null, fn: (r: Replica) => Promise<T>): Promise<{ replica: Replica; value: T }> {
      if (closed) throw new AppError(503, 'shutting_down', 'the browser pool is shutting down')
      if (sticky && gone.has(sticky)) {
        const why = gone.get(sticky)!
        gone.delete(sticky)
        throw replicaGone(sticky, why)
      }
      const r = await queue.acquire(sticky && queue.has(sticky) ? sticky : null)
      try {
        await syncCookies(r)
        const died = r.died.then((why) => Promise.reject(diedDuring(why)))
        died.catch(() => {})
        const value = await Promise.race([fn(r), died])
        // an action can fail on its crashed page a moment before the crash is reported: then the answer is the crash
        await new Promise((resolve) => setTimeout(resolve, 0))
        const why = r.deadReason()
        if (why) throw diedDuring(why)
        if (d.cfg.shareCookies) {
          jar = { version: jar.version + 1, cookies: await r.context.cookies() }
          jarSeen.set(r, jar.version)
        }
        return { replica: r, value }
      } finally {
        const slot = slots.find((s) => s.replica === r)
        if (slot && overMemory(r)) {
          queue.release(r)
          void replace(slot, r, `it used more than its ${d.cfg.memoryMb} MiB`)
        } else if (!r.deadReason() && shouldCollect(r)) {
          // the answer goes out now; the replica's next request waits for the collection
          lastCollected.set(r, Date.now())
          void r.collectGarbage().catch((err) => d.log.debug('browser replica garbage collection failed', { replica: r.id, err })).finally(() => queue.release(r))
        } else queue.release(r)
      }
    },

    /** Replaces idle replicas over their memory limit (where cgroups do not enforce it). */
    async checkMemory(): Promise<{ replaced: number }> {
      let replaced = 0
      for (const s of slots) {
        const r = s.replica
        if (r && !queue.state(r.id)?.busy && overMemory(r)) {
          replaced++
          void replace(s, r, `it used more than its ${d.cfg.memoryMb} MiB`)
        }
      }
      return { replaced }
    },

    /** compat: {status, num_replicas}, and per replica its state and queue. */
    status() {
      const replicas = [...slots]
        .sort((a, b) => a.index - b.index)
        .map((s) => {
          const q = s.replica ? queue.state(s.replica.id) : null
          const mem = s.replica?.memoryBytes() ?? null
          return {
            id: s.replica?.id ?? null,
            profile: `profile-${s.index + 1}`,
            state: s.state === 'ready' ? (q?.busy ? 'busy' : 'idle') : s.state,
            queue_length: q?.queued ?? 0,
            memory_mb: mem === null ? null : Math.round(mem / 1048576),
          }
        })
      return { status: 'ok', num_replicas: d.cfg.replicas, running: replicas.filter((r) => r.state === 'idle' || r.state === 'busy').length, queued: queue.sharedWaiting(), replicas }
    },

    async shutdown() {
      closed = true
      queue.failShared(new AppError(503, 'shutting_down', 'the browser pool is shutting down'))
      await Promise.all(slots.map((s) => s.replica?.close()))
    },
  }
}
export type BrowserPool = ReturnType<typeof createBrowserPool>
