/**
 * CapsuleService: the Wrenn capsule model over a Runtime driver. `team` is scoped
 * to the caller's team, `admin` spans every team (platform admins only); both
 * share one implementation. Jobs: the idle reaper and the metrics sampler.
 */
import { invalid } from '../core/errors.ts'
import type { Scheduler } from '../core/jobs.ts'
import type { Principal } from '../core/principal.ts'
import type { Scope } from './access.ts'
import { createCapsuleContext, type CapsuleDeps } from './context.ts'
import { createFileOps } from './files.ts'
import { parseArgs, parseEnvs } from './input.ts'
import { createLifecycle } from './lifecycle.ts'
import { createMetricsSampler } from './metrics.ts'
import { createPortOps } from './ports.ts'
import { createProcessOps } from './processes.ts'
import { createPtySessions, type PtySession } from './pty-session.ts'
import { createStatsOps } from './stats.ts'
import { createTemplateOps } from './templates.ts'

export type PtyStart = { cmd?: unknown; args?: unknown; cols?: unknown; rows?: unknown; envs?: unknown; cwd?: unknown; user?: unknown }

const dim = (v: unknown, def: number, name: string) => {
  if (v === undefined || v === null) return def
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1000) throw invalid(`${name} must be an integer between 1 and 1000`)
  return v
}

export function createCapsuleService(d: CapsuleDeps) {
  const ctx = createCapsuleContext(d)
  const sampler = createMetricsSampler({ db: d.db, runtime: d.runtime, clock: d.clock, log: d.log, intervalMs: d.config.metricsIntervalMs })
  const ptys = createPtySessions({ replayBytes: d.config.ptyReplayBytes, onInput: (id) => ctx.touch(id) })
  const lifecycle = createLifecycle(ctx, {
    running: (row) => sampler.track(row.id, row.team_id, row.vcpus),
    stopped: (row) => sampler.untrack(row.id),
    destroyed: async (row) => {
      ptys.closeCapsule(row.id)
      await sampler.forget(row.id)
    },
  })
  const processes = createProcessOps(ctx)
  const files = createFileOps(ctx)
  const templates = createTemplateOps(ctx)
  const stats = createStatsOps(ctx)
  const ports = createPortOps(ctx)

  const view = (scope: Scope) => ({
    ...lifecycle.view(scope),
    processes: processes.view(scope),
    files: files.view(scope),
    snapshots: templates.view(scope),
    ports: ports.view(scope),

    /** Size of the capsule's own writable layer, from the newest metrics sample (or measured now). */
    async diskUsedBytes(id: string): Promise<number | null> {
      const s = sampler.latest(id)
      if (s) return s.diskBytes
      try {
        return (await d.runtime.metrics(id)).diskBytes
      } catch {
        return null
      }
    },

    /** compat(wrenn): stopped/destroyed capsules have no metrics (404 via load). */
    async metrics(p: Principal, id: string, range: unknown = '10m') {
      const row = await ctx.load(p, scope, id, 'read')
      return { id: row.id, range: String(range), points: await sampler.series(row.id, String(range)) }
    },

    /** Starts a terminal in a running capsule and registers it for reconnects. */
    async startPty(p: Principal, id: string, req: PtyStart): Promise<PtySession> {
      const row = await ctx.requireRunning(await ctx.load(p, scope, id, 'write'))
      if (req.cmd !== undefined && (typeof req.cmd !== 'string' || !req.cmd)) throw invalid('cmd must be a non-empty string')
      if (req.cwd !== undefined && (typeof req.cwd !== 'string' || !req.cwd.startsWith('/'))) throw invalid('cwd must be an absolute path')
      if (req.user !== undefined && typeof req.user !== 'string') throw invalid('user must be a string')
      const handle = await d.runtime
        .pty(row.id, {
          cmd: (req.cmd as string | undefined) ?? '/bin/bash',
          args: parseArgs(req.args) ?? [],
          cols: dim(req.cols, 80, 'cols'),
          rows: dim(req.rows, 24, 'rows'),
          envs: { TERM: 'xterm-256color', ...parseEnvs(req.envs) },
          cwd: req.cwd as string | undefined,
          user: req.user as string | undefined,
        })
        .catch((err) => {
          throw ctx.runtimeError(err, 'pty start')
        })
      ctx.touch(row.id)
      return ptys.add(row.id, d.ids.id('pty-', 8), handle)
    },

    /** An existing terminal of this capsule by tag, or null. */
    async findPty(p: Principal, id: string, tag: unknown): Promise<PtySession | null> {
      const row = await ctx.load(p, scope, id, 'write')
      return typeof tag === 'string' ? ptys.get(row.id, tag) : null
    },

    /** Checks the caller may open a terminal here now (before the WebSocket upgrade). */
    async assertRunning(p: Principal, id: string, need: 'read' | 'write'): Promise<void> {
      await ctx.requireRunning(await ctx.load(p, scope, id, need))
    },
  })

  const team = { ...view('team'), stats: stats.stats, usage: stats.usage }
  return {
    team,
    admin: view('admin'),
    config: d.config,
    sampler,
    ptys,
    /** Connections to capsule ports the caller was let through to (view().ports.open). */
    portConnections: { agent: ports.agent, connect: ports.connect, closed: ports.closedPort, joiner: ports.joiner },
    /** Registers the reaper and sampler on the scheduler. */
    registerJobs(jobs: Scheduler) {
      jobs.add({ name: 'capsules.reaper', everyMs: d.config.reaperIntervalMs, run: () => lifecycle.reap() })
      jobs.add({ name: 'capsules.metrics', everyMs: d.config.metricsIntervalMs, run: () => sampler.tick() })
    },
    recover: lifecycle.recover,
    /** Stops and removes everything of a deleted team (capsules, then its snapshot templates). */
    async removeTeam(teamId: string) {
      const gone = await lifecycle.destroyTeam(teamId)
      await templates.removeTeam(teamId)
      d.log.info('capsules of a deleted team removed', { teamId, capsules: gone.length })
    },
    async shutdown() {
      await sampler.flush().catch((err) => d.log.error('metrics flush failed', { err }))
      await lifecycle.shutdown()
    },
  }
}
export type CapsuleService = ReturnType<typeof createCapsuleService>
export type CapsuleView = CapsuleService['admin']
