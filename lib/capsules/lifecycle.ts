/**
 * The capsule state machine: pending → starting → running ⇄ paused, snapshotting,
 * stopping → stopped, error. Every transition is persisted (store.transitionCapsule)
 * and published; actions are audited.
 */
import { AppError, conflict, forbidden, invalid } from '../core/errors.ts'
import { system, type Principal } from '../core/principal.ts'
import { assertScope, callerTeam, RESERVED_KEY, visibleInScope, type Scope } from './access.ts'
import type { CapsuleContext } from './context.ts'
import { parseNewCapsule } from './input.ts'
import { NESTBOX_URL } from './runtime/network.ts'
import type { CapsuleSpec } from './runtime/types.ts'
import { findTemplateForTeam, insertCapsule, listCapsules, listCapsulesByStatus, updateCapsule } from './store.ts'
import type { CapsuleRow, CapsuleStatus } from './tables.ts'

/** What else must follow a capsule's life (metrics sampling, PTY sessions). */
export type LifecycleHooks = {
  running: (row: CapsuleRow) => void
  stopped: (row: CapsuleRow) => void
  destroyed: (row: CapsuleRow) => Promise<void> | void
}

const LIVE: CapsuleStatus[] = ['pending', 'starting', 'running', 'pausing', 'paused', 'resuming', 'snapshotting', 'stopping', 'error']

export function createLifecycle(ctx: CapsuleContext, hooks: LifecycleHooks) {
  const { db, runtime, clock, ids } = ctx

  /** `up`: called once the capsule is running, before its audit entry is written (what waits for the boot can go on). */
  async function boot(actor: Principal, row: CapsuleRow, spec: CapsuleSpec, up: () => void) {
    try {
      if (spec.network && spec.network.mode !== 'none' && ctx.credentials) spec = { ...spec, envs: { ...spec.envs, ...(await ctx.credentials(row.team_id, row.id)) } }
      await runtime.create(spec)
      const now = clock.now()
      const running = await ctx.transition(row, ['starting'], 'running', { started_at: now, last_active_at: now, error: null })
      ctx.touch(row.id)
      hooks.running(running)
      up()
      await ctx.action(actor, 'create', running, 'success')
    } catch (err) {
      ctx.log.error('capsule create failed', { capsule: row.id, err })
      await runtime.destroy(row.id).catch((e) => ctx.log.error('cleanup after failed create failed', { capsule: row.id, err: e }))
      // AppError messages are written for users (e.g. the host is full); anything else stays in the log.
      const why = err instanceof AppError ? err.message : 'the runtime could not start this capsule'
      const failed = await ctx.transition(row, ['starting'], 'error', { error: why }, 'cleanup_after_create_error').catch(() => row)
      await ctx.action(actor, 'create', failed, 'error', { error: why })
    }
  }

  async function destroyNow(actor: Principal, row: CapsuleRow, reason = ''): Promise<CapsuleRow> {
    if (row.status !== 'stopping') row = await ctx.transition(row, LIVE.filter((s) => s !== 'stopping'), 'stopping', {}, reason)
    try {
      await runtime.destroy(row.id)
    } catch (err) {
      const bad = await ctx.transition(row, ['stopping'], 'error', { error: 'destroy failed; retry the delete' }, reason)
      await ctx.action(actor, 'destroy', bad, 'error')
      throw ctx.runtimeError(err, 'destroy')
    }
    await hooks.destroyed(row)
    const gone = await ctx.transition(row, ['stopping'], 'stopped', { destroyed_at: clock.now() }, reason)
    ctx.lastActive.delete(row.id)
    await ctx.action(actor, 'destroy', gone, 'success', reason ? { reason } : {})
    return gone
  }

  /** Freezes every process of a running capsule. */
  async function pauseNow(actor: Principal, row: CapsuleRow, reason = ''): Promise<CapsuleRow> {
    if (row.status !== 'running') throw ctx.transitionError(row, 'paused')
    try {
      await runtime.pause(row.id)
    } catch (err) {
      await ctx.action(actor, 'pause', row, 'error')
      throw ctx.runtimeError(err, 'pause')
    }
    const paused = await ctx.transition(row, ['running'], 'paused', { last_active_at: ctx.lastActiveOf(row) }, reason)
    hooks.stopped(paused)
    await ctx.action(actor, 'pause', paused, 'success', reason ? { reason } : {})
    return paused
  }

  // A sandbox whose init died (e.g. killed from inside) keeps its files: it shows
  // as paused, and resume boots it again over the same layer.
  ctx.onExited = async (row) => {
    const cur = await ctx.transition(row, ['running'], 'paused', { last_active_at: ctx.lastActiveOf(row) }, 'exited').catch(() => ctx.reload(row.id))
    if (cur.status === 'paused') {
      hooks.stopped(cur)
      ctx.log.warn('capsule sandbox exited by itself; now paused with its files', { capsule: row.id })
      await ctx.recordAudit(system, 'exited', cur, { from: 'running', to: 'paused' })
    }
    return cur
  }

  const view = (scope: Scope) => ({
    /**
     * Starts a capsule; answers at once with status "starting" (compat(wrenn): 202), boots in the background.
     * `extra` is for nestbox's own services (never from a request): host directories bound read-only inside,
     * how many execs will follow the boot back to back, and `reserve` (who holds it): a capsule its team does
     * not see until that service claims it.
     */
    async create(p: Principal, body: unknown, extra: Pick<CapsuleSpec, 'binds' | 'firstExecs'> & { reserve?: string } = {}): Promise<CapsuleRow> {
      assertScope(p, scope, 'write')
      const input = parseNewCapsule(body, ctx.config)
      let teamId = scope === 'admin' ? (input.teamId ?? (p.kind === 'user' ? p.teamId : null)) : callerTeam(p)
      if (scope === 'team' && input.teamId && input.teamId !== teamId) throw invalid('team_id can only be chosen on /v1/admin/capsules')
      if (!teamId) throw invalid('team_id is required')
      const team = await db.selectFrom('teams').select('id').where('id', '=', teamId).where('deleted_at', 'is', null).executeTakeFirst()
      if (!team) throw invalid(`team ${teamId} does not exist`, 'team_not_found')
      const tpl = await findTemplateForTeam(db, teamId, input.template)
      if (!tpl) throw invalid(`template "${input.template.slice(0, 64)}" not found`, 'template_not_found')
      const now = clock.now()
      const row: CapsuleRow = {
        id: ids.id('sb-', 8),
        team_id: teamId,
        created_by: p.kind === 'user' || p.kind === 'api_key' ? p.userId : '',
        template_id: tpl.id,
        template: tpl.name,
        status: 'pending',
        vcpus: input.vcpus ?? Math.min(tpl.vcpus ?? ctx.config.defaults.vcpus, ctx.config.limits.maxVcpus),
        memory_mb: input.memoryMb ?? Math.min(tpl.memory_mb ?? ctx.config.defaults.memoryMb, ctx.config.limits.maxMemoryMb),
        disk_size_mb: input.diskSizeMb,
        timeout_sec: input.timeoutSec,
        metadata: JSON.stringify(extra.reserve ? { ...input.metadata, [RESERVED_KEY]: extra.reserve } : input.metadata),
        error: null,
        created_at: now,
        started_at: null,
        last_active_at: null,
        updated_at: now,
        destroyed_at: null,
        network: input.network,
        allow_out: input.allowOut ? JSON.stringify(input.allowOut) : null,
        public_ports: JSON.stringify(input.publicPorts),
      }
      await insertCapsule(db, row)
      const started = await ctx.transition(row, ['pending'], 'starting')
      const spec: CapsuleSpec = {
        id: row.id,
        template: { name: tpl.name, rootDir: tpl.root_dir },
        vcpus: row.vcpus,
        memoryMb: row.memory_mb,
        diskMb: row.disk_size_mb,
        network: { mode: input.network, ...(input.allowOut ? { allowOut: input.allowOut } : {}) },
        ...(input.network === 'none' ? {} : { envs: { NESTBOX_URL } }),
        ...(extra.binds?.length ? { binds: extra.binds } : {}),
        ...(extra.firstExecs ? { firstExecs: extra.firstExecs } : {}),
      }
      // The lock is taken before answering, so a destroy/pause right after waits for the boot.
      // The lock is held until the audit entry is written; a first exec waits only until the capsule runs.
      let up = () => {}
      const running = new Promise<void>((r) => (up = r))
      const booting = ctx.withLock(row.id, () => boot(p, started, spec, up))
      ctx.starting.set(row.id, Promise.race([running, booting]))
      booting.finally(() => ctx.starting.delete(row.id))
      return started
    },

    /**
     * For nestbox's own services: takes a running capsule out of reserve (create's `extra.reserve`) with
     * host directories bound read-only into it and its metadata replaced; its team sees it from then on.
     */
    async claim(p: Principal, id: string, use: { metadata: Record<string, string>; binds?: Array<{ source: string; path: string }> }): Promise<CapsuleRow> {
      if (p.kind !== 'system') throw forbidden('only nestbox itself claims a reserved capsule')
      return ctx.withLock(id, async () => {
        const row = await ctx.requireRunning(await ctx.reload(id))
        if (visibleInScope('team', row)) throw conflict(`capsule ${id} is not held in reserve`)
        for (const b of use.binds ?? []) {
          if (!runtime.attach) throw conflict(`the ${runtime.name} runtime cannot bind a directory into a running capsule`)
          await runtime.attach(id, b)
        }
        const patch = { metadata: JSON.stringify(use.metadata), updated_at: clock.now() }
        await updateCapsule(db, id, patch)
        return { ...row, ...patch }
      })
    },

    /** The capsule, with its idle clock as of now. */
    async get(p: Principal, id: string): Promise<CapsuleRow> {
      const row = await ctx.load(p, scope, id, 'read')
      return { ...row, last_active_at: ctx.lastActiveOf(row) }
    },

    async list(p: Principal): Promise<CapsuleRow[]> {
      assertScope(p, scope, 'read')
      return (await listCapsules(db, scope === 'admin' ? null : callerTeam(p))).filter((row) => visibleInScope(scope, row)).map((row) => ({ ...row, last_active_at: ctx.lastActiveOf(row) }))
    },

    /** Stops every process and removes everything the capsule had on the host. */
    async destroy(p: Principal, id: string): Promise<void> {
      await ctx.load(p, scope, id, 'write')
      await ctx.withLock(id, async () => destroyNow(p, await ctx.reload(id)))
    },

    async pause(p: Principal, id: string): Promise<CapsuleRow> {
      await ctx.load(p, scope, id, 'write')
      return ctx.withLock(id, async () => pauseNow(p, await ctx.reload(id)))
    },

    /** Thaws a paused capsule; it counts as activity for the idle timeout. */
    async resume(p: Principal, id: string): Promise<CapsuleRow> {
      await ctx.load(p, scope, id, 'write')
      return ctx.withLock(id, async () => {
        const row = await ctx.reload(id)
        if (row.status !== 'paused') throw ctx.transitionError(row, 'running')
        try {
          await runtime.resume(id)
        } catch (err) {
          await ctx.action(p, 'resume', row, 'error')
          throw ctx.runtimeError(err, 'resume')
        }
        const now = clock.now()
        const up = await ctx.transition(row, ['paused'], 'running', { last_active_at: now, started_at: row.started_at ?? now })
        ctx.touch(id)
        hooks.running(up)
        await ctx.action(p, 'resume', up, 'success')
        return up
      })
    },

    /** Resets the idle timer of a running capsule. */
    async ping(p: Principal, id: string): Promise<void> {
      const row = await ctx.requireRunning(await ctx.load(p, scope, id, 'write'))
      ctx.touch(row.id)
    },
  })

  /** The idle reaper: pauses running capsules idle past timeout_sec, and persists idle clocks. */
  async function reap(): Promise<{ paused: string[] }> {
    const now = clock.now()
    const paused: string[] = []
    for (const row of await listCapsulesByStatus(db, ['running'])) {
      if (runtime.status?.(row.id) === 'files-only') {
        await ctx.withLock(row.id, async () => ctx.onExited(await ctx.reload(row.id))).catch(() => {})
        continue
      }
      const last = ctx.lastActiveOf(row) ?? row.started_at ?? row.created_at
      if (row.timeout_sec > 0 && now - last >= row.timeout_sec * 1000) {
        try {
          await ctx.withLock(row.id, async () => {
            const cur = await ctx.reload(row.id)
            const curLast = ctx.lastActiveOf(cur) ?? cur.started_at ?? cur.created_at
            if (cur.status !== 'running' || clock.now() - curLast < cur.timeout_sec * 1000) return
            await pauseNow(system, cur, 'ttl_expired')
            paused.push(row.id)
          })
        } catch (err) {
          ctx.log.warn('idle pause failed', { capsule: row.id, err })
        }
      } else if (last !== row.last_active_at) await updateCapsule(db, row.id, { last_active_at: last })
    }
    return { paused }
  }

  /**
   * After a restart: capsules that still run are re-attached, those that kept only
   * their files come back paused (resume boots them again), interrupted destroys finish.
   */
  async function recover(): Promise<Record<string, string>> {
    const rows = await listCapsulesByStatus(db, LIVE.filter((s) => s !== 'error'))
    if (!rows.length) return {}
    const found = await runtime.recover(rows.map((r) => r.id))
    const out: Record<string, string> = {}
    for (const row of rows) {
      const state = found[row.id] ?? 'gone'
      try {
        if (row.status === 'stopping') {
          await destroyNow(system, row, 'recovered')
          out[row.id] = 'stopped'
        } else if ((row.status === 'pending' || row.status === 'starting') && state !== 'running') {
          await runtime.destroy(row.id).catch(() => {})
          await ctx.transition(row, [row.status], 'error', { error: 'interrupted by a nestbox restart before it started' }, 'recovered')
          out[row.id] = 'error'
        } else if (state === 'running') {
          const up = row.status === 'running' ? row : await ctx.transition(row, [row.status], 'running', { started_at: row.started_at ?? clock.now() }, 'recovered')
          hooks.running(up)
          out[row.id] = 'running'
        } else if (state === 'paused' || state === 'files-only') {
          if (row.status !== 'paused') await ctx.transition(row, [row.status], 'paused', {}, 'recovered')
          out[row.id] = 'paused'
        } else {
          await ctx.transition(row, [row.status], 'error', { error: "the capsule's files were not found after a restart" }, 'recovered')
          out[row.id] = 'error'
        }
        if (out[row.id] !== row.status && out[row.id] !== 'stopped') await ctx.recordAudit(system, 'recover', row, { from: row.status, to: out[row.id], runtime: state })
      } catch (err) {
        ctx.log.error('capsule recovery failed', { capsule: row.id, err })
      }
    }
    ctx.log.info('capsules recovered', { count: rows.length })
    return out
  }

  /** A deleted team's capsules go with it. */
  async function destroyTeam(teamId: string): Promise<string[]> {
    const gone: string[] = []
    for (const row of await listCapsules(db, teamId)) {
      try {
        await ctx.withLock(row.id, async () => destroyNow(system, await ctx.reload(row.id), 'team_deleted'))
        gone.push(row.id)
      } catch (err) {
        ctx.log.error('destroying a deleted team capsule failed', { capsule: row.id, err })
      }
    }
    return gone
  }

  async function shutdown() {
    await Promise.allSettled([...ctx.starting.values()])
    for (const [id, at] of ctx.lastActive) await updateCapsule(db, id, { last_active_at: at }).catch(() => {})
    await runtime.shutdown()
  }

  return { view, reap, recover, shutdown, destroyTeam }
}
