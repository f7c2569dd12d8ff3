/**
 * Spare capsules for repo runs: `perKey` (cloudbox.spareCapsules) per team and
 * network mode, booted after a run of that team, so that its next run starts in
 * a capsule already up (a boot is about 50 ms of a 130 ms run). A spare is held
 * in reserve, out of its team's sight, until a run claims it and binds its
 * repository in. One unused for `idleMs` is destroyed; so are those a previous
 * process left, at start (sweep).
 */
import type { Logger } from '../core/logger.ts'
import { system } from '../core/principal.ts'
import { reservedBy } from '../capsules/access.ts'
import type { CapsuleService } from '../capsules/service.ts'

/** The reserve holder's name on a spare (capsule metadata, access.ts RESERVED_KEY). */
const HOLDER = 'runs'

export type SpareKey = { teamId: string; network: 'nestbox' | 'internet' | 'none' }
type Spare = { id: string | null; up: Promise<boolean>; timer: NodeJS.Timeout }

export type SparesDeps = {
  capsules: CapsuleService
  log: Logger
  perKey: number
  idleMs: number
  memoryMb: number
  /** Execs a run starts back to back in its capsule (clone, a command, diff): their entries wait ready. */
  firstExecs: number
}

export function createSpares(d: SparesDeps) {
  const caps = d.capsules.admin
  const pool = new Map<string, Spare[]>()
  const keyOf = (k: SpareKey) => `${k.teamId}\0${k.network}`
  let closed = false

  const destroy = (id: string) => caps.destroy(system, id).catch((err) => d.log.warn('spare capsule not destroyed', { capsule: id, err }))
  const drop = (key: string, s: Spare) => {
    clearTimeout(s.timer)
    const list = pool.get(key)
    const i = list?.indexOf(s) ?? -1
    if (i >= 0) list!.splice(i, 1)
    if (list && !list.length) pool.delete(key)
  }
  /** Destroys a spare once its boot is over (a failed boot destroyed its own). */
  const destroyWhenUp = (s: Spare) => s.up.then((ok) => (ok && s.id ? destroy(s.id) : undefined))
  const retire = (key: string, s: Spare) => {
    drop(key, s)
    void destroyWhenUp(s)
  }

  const boot = (k: SpareKey, key: string): Spare => {
    const s: Spare = { id: null, up: Promise.resolve(false), timer: setTimeout(() => retire(key, s), d.idleMs).unref() }
    s.up = (async () => {
      const row = await caps.create(system, { team_id: k.teamId, network: k.network, memory_mb: d.memoryMb, timeout_sec: 0 }, { reserve: HOLDER, firstExecs: d.firstExecs })
      s.id = row.id
      await caps.processes.assertExecutable(system, row.id)
      return true
    })().catch((err) => {
      d.log.warn('spare capsule did not boot', { team: k.teamId, err })
      drop(key, s)
      if (s.id) void destroy(s.id)
      return false
    })
    return s
  }

  return {
    /** A running spare of this team and mode, now the caller's; one still booting is waited for; null when there is none. */
    async take(k: SpareKey): Promise<string | null> {
      const key = keyOf(k)
      for (let s = pool.get(key)?.[0]; s; s = pool.get(key)?.[0]) {
        drop(key, s)
        if (await s.up) return s.id
      }
      return null
    },

    /** Boots spares of this team and mode until it has `perKey`. */
    refill(k: SpareKey): void {
      if (closed || d.perKey <= 0) return
      const key = keyOf(k)
      const list = pool.get(key) ?? []
      pool.set(key, list)
      while (list.length < d.perKey) list.push(boot(k, key))
    },

    /** At start: destroys the spares a previous process left unclaimed. */
    async sweep(): Promise<void> {
      for (const row of await caps.list(system)) if (reservedBy(row) === HOLDER && row.status !== 'stopped') await destroy(row.id)
    },

    /** Shutdown: no more spares; those there are destroyed. */
    async close(): Promise<void> {
      closed = true
      const all = [...pool.entries()].flatMap(([key, list]) => list.map((s) => [key, s] as const))
      for (const [key, s] of all) drop(key, s)
      await Promise.all(all.map(([, s]) => destroyWhenUp(s)))
    },
  }
}
export type Spares = ReturnType<typeof createSpares>
