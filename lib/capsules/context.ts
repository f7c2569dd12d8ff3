/**
 * The pieces every capsule operation shares: dependencies, the per-capsule lock,
 * lookups with access checks, persisted transitions with their bus events and
 * audit entries, the "must be running" rule and the idle clock.
 */
import type { Config } from '../core/config/index.ts'
import type { Db } from '../core/db.ts'
import { AppError, conflict, notFound } from '../core/errors.ts'
import type { EventBus } from '../core/events.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import { actorOf, type Principal } from '../core/principal.ts'
import type { AuditLog } from '../events/audit.ts'
import { assertScope, assertVisible, visibleInScope, type Need, type Scope } from './access.ts'
import { createKeyedLock } from './locks.ts'
import type { Runtime } from './runtime/types.ts'
import { findCapsuleById, transitionCapsule } from './store.ts'
import type { CapsuleRow, CapsuleStatus } from './tables.ts'

export type CapsuleDeps = {
  db: Db
  runtime: Runtime
  bus: EventBus
  audit: AuditLog
  clock: Clock
  ids: IdGen
  log: Logger
  config: Config['capsules']
  dataDir: string
  /** Credentials a capsule that reaches nestbox carries (the gateway's capsule-scoped key as OPENAI_* / ANTHROPIC_* variables). */
  credentials?: (teamId: string, capsuleId: string) => Promise<Record<string, string>>
}

/** How long an operation on a capsule that is still starting waits for it. */
const START_WAIT_MS = 30_000

export function createCapsuleContext(d: CapsuleDeps) {
  const withLock = createKeyedLock()
  /** Capsules whose runtime.create is in flight, so the first exec can wait instead of failing. */
  const starting = new Map<string, Promise<void>>()
  /** Idle clock: exec and ping bump it in memory; the reaper persists it. */
  const lastActive = new Map<string, number>()

  const publish = (type: string, row: CapsuleRow, data: Record<string, unknown>) =>
    d.bus.publish({ type, teamId: row.team_id, resourceType: 'capsule', resourceId: row.id, data: { ...data, sandbox: row } })

  const ctx = {
    ...d,
    /** Set by the lifecycle: records that a running capsule's sandbox exited by itself (its files stay). */
    onExited: async (row: CapsuleRow): Promise<CapsuleRow> => row,
    withLock,
    starting,
    lastActive,

    /** The capsule if the caller may see it (404 otherwise, also for other teams); `need` write also demands member+. */
    async load(p: Principal, scope: Scope, id: string, need: Need): Promise<CapsuleRow> {
      assertScope(p, scope, need)
      const row = await findCapsuleById(d.db, id)
      if (!row) throw notFound(`capsule ${id.slice(0, 64)} not found`)
      assertVisible(p, scope, row.team_id, `capsule ${id}`)
      if (!visibleInScope(scope, row)) throw notFound(`capsule ${id.slice(0, 64)} not found`)
      return row
    },

    async reload(id: string): Promise<CapsuleRow> {
      const row = await findCapsuleById(d.db, id)
      if (!row) throw notFound(`capsule ${id} not found`)
      return row
    },

    /** The row once it runs: waits for a capsule still starting, refuses paused/stopped ones with 409. */
    async requireRunning(row: CapsuleRow): Promise<CapsuleRow> {
      if (row.status === 'pending' || row.status === 'starting') {
        const p = starting.get(row.id)
        if (p) {
          let timer: NodeJS.Timeout | undefined
          await Promise.race([p, new Promise((r) => (timer = setTimeout(r, START_WAIT_MS)))])
          clearTimeout(timer)
        }
        row = await ctx.reload(row.id)
      }
      if (row.status === 'running') {
        if (d.runtime.status?.(row.id) !== 'files-only') return row
        row = await ctx.onExited(row)
      }
      if (row.status === 'paused') throw conflict(`capsule ${row.id} is paused; resume it first`, 'capsule_paused')
      if (row.status === 'error') throw conflict(`capsule ${row.id} is in error: ${row.error ?? 'unknown error'}`, 'capsule_not_running')
      throw conflict(`capsule ${row.id} is not running (status: ${row.status})`, 'capsule_not_running')
    },

    /** compat(wrenn): pause of a capsule that is not running, resume of one that is not paused: 409. */
    transitionError(row: CapsuleRow, to: CapsuleStatus): AppError {
      if (to === 'running') return conflict(`capsule ${row.id} is not paused (status: ${row.status})`, 'capsule_not_paused')
      return conflict(`capsule ${row.id} is not running (status: ${row.status})`, 'capsule_not_running')
    },

    touch(id: string) {
      lastActive.set(id, d.clock.now())
    },
    lastActiveOf(row: CapsuleRow): number | null {
      const mem = lastActive.get(row.id)
      return mem != null && mem > (row.last_active_at ?? 0) ? mem : row.last_active_at
    },

    /**
     * Persists one state change (409 when the capsule is not in one of `from`),
     * then publishes capsule.state.changed.
     */
    async transition(row: CapsuleRow, from: CapsuleStatus[], to: CapsuleStatus, patch: Partial<CapsuleRow> = {}, reason = ''): Promise<CapsuleRow> {
      const r = await transitionCapsule(d.db, row.id, from, to, patch, reason, d.clock.now())
      if (!r.ok) {
        const cur = await findCapsuleById(d.db, row.id)
        throw conflict(`capsule ${row.id} is ${cur?.status ?? 'gone'}, cannot become ${to}`, 'invalid_state')
      }
      publish('capsule.state.changed', r.row, { from: r.prev, to, reason })
      return r.row
    },

    /** An action event (capsule.create/.pause/.resume/.destroy) on the bus and its audit entry. */
    async action(actor: Principal, action: 'create' | 'pause' | 'resume' | 'destroy', row: CapsuleRow, outcome: 'success' | 'error', extra: Record<string, unknown> = {}) {
      const a = actorOf(actor)
      publish(`capsule.${action}`, row, { outcome, actor: { type: a.actorType, id: a.actorId, name: a.actorName }, ...extra })
      try {
        await d.audit.record(actor, { teamId: row.team_id, resourceType: 'capsule', resourceId: row.id, action, status: outcome === 'success' ? 'success' : 'failure', metadata: extra })
      } catch (err) {
        d.log.error('audit record failed', { err, capsule: row.id, action })
      }
    },

    /** An audit entry for a state change the system made (recovery, a sandbox that exited). */
    async recordAudit(actor: Principal, action: string, row: CapsuleRow, metadata: Record<string, unknown>) {
      await d.audit
        .record(actor, { teamId: row.team_id, resourceType: 'capsule', resourceId: row.id, action, metadata })
        .catch((err) => d.log.error('audit record failed', { err, capsule: row.id, action }))
    },

    /** A clean message for an unexpected runtime failure; AppErrors pass through. */
    runtimeError(err: unknown, what: string): AppError {
      if (err instanceof AppError) return err
      d.log.error('runtime failure', { what, err })
      return new AppError(502, 'runtime_error', `${what} failed in the capsule runtime (details are in the server log)`, { cause: err })
    },
  }
  return ctx
}
export type CapsuleContext = ReturnType<typeof createCapsuleContext>
