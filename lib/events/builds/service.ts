/**
 * Template builds (platform admins only): submit, list, get, cancel. Builds run
 * `builds.concurrency` at a time in this process, oldest first; a restart finds
 * the unfinished ones and marks them failed with the reason. Status changes are
 * published as build.* events (admin stream).
 */
import type { Config } from '../../core/config/index.ts'
import type { Db } from '../../core/db.ts'
import { conflict, forbidden, invalid, notFound, unauthorized } from '../../core/errors.ts'
import type { EventBus } from '../../core/events.ts'
import type { Clock, IdGen } from '../../core/ids.ts'
import type { Logger } from '../../core/logger.ts'
import { system, type Principal } from '../../core/principal.ts'
import type { CapsuleService } from '../../capsules/service.ts'
import { NAME_RE } from '../../capsules/input.ts'
import type { AuditLog } from '../audit.ts'
import type { BuildRow, BuildStatus } from '../tables.ts'
import { parseHealthcheck, parseRecipe, type Step } from './recipe.ts'
import type { BuildRunner, Control } from './runner.ts'
import { buildsInStatus, findBuild, insertBuild, listBuilds, transitionBuild } from './store.ts'

type Deps = { db: Db; bus: EventBus; clock: Clock; ids: IdGen; log: Logger; audit: AuditLog; capsules: CapsuleService; run: BuildRunner; settings: Config['events']['builds'] }

function requireAdmin(p: Principal) {
  if (p.kind === 'anonymous') throw unauthorized()
  if (p.kind !== 'user' || !p.isAdmin) throw forbidden('platform admin required', 'admin_required')
  return p
}

const optInt = (v: unknown, name: string, min: number, max: number) => {
  if (v === undefined || v === null || v === 0) return null
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(`${name} must be an integer between ${min} and ${max}`)
  return v
}

export function createBuildService(d: Deps) {
  const active = new Map<string, { ctl: Control; done: Promise<void> }>()
  let stopped = false
  const publish = (b: BuildRow, status: BuildStatus, data: Record<string, unknown> = {}) =>
    d.bus.publish({ type: `build.${status}`, teamId: null, resourceType: 'build', resourceId: b.id, data: { build_id: b.id, name: b.name, status, ...data } })

  async function execute(b: BuildRow) {
    const ctl: Control = { cancelled: false, reason: 'cancelled', kill: null }
    const done = (async () => {
      const now = d.clock.now()
      if (!(await transitionBuild(d.db, b.id, ['queued'], { status: 'running', started_at: now }))) return
      publish(b, 'running')
      const res = await d.run({ ...b, status: 'running', started_at: now }, parseRecipe(JSON.parse(b.recipe)), ctl)
      const completed = d.clock.now()
      await transitionBuild(d.db, b.id, ['running'], { status: res.status, error: res.error, template_id: res.templateId, logs: JSON.stringify(res.logs), completed_at: completed })
      publish(b, res.status, { error: res.error, template: res.status === 'success' ? b.name : null, duration_ms: completed - now })
    })()
      .catch((err) => d.log.error('build bookkeeping failed', { err, build: b.id }))
      .finally(() => {
        active.delete(b.id)
        void pump()
      })
    active.set(b.id, { ctl, done })
  }

  let pumping = false
  async function pump() {
    if (pumping || stopped) return
    pumping = true
    try {
      while (!stopped && active.size < d.settings.concurrency) {
        const next = (await buildsInStatus(d.db, ['queued'])).find((b) => !active.has(b.id))
        if (!next) break
        await execute(next)
      }
    } finally {
      pumping = false
    }
  }

  return {
    /** Queues a build (202); the template name must be free among platform templates. */
    async create(p: Principal, raw: unknown): Promise<BuildRow> {
      const admin = requireAdmin(p)
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('request body must be a JSON object')
      const b = raw as Record<string, unknown>
      if (typeof b.name !== 'string' || !b.name) throw invalid('name is required')
      if (!NAME_RE.test(b.name)) throw invalid('invalid template name: must match [a-zA-Z0-9][a-zA-Z0-9._-]{0,63}', 'invalid_name')
      const steps: Step[] = parseRecipe(b.recipe)
      parseHealthcheck(b.healthcheck)
      const base = b.base_template ?? 'minimal'
      if (typeof base !== 'string' || !base) throw invalid('base_template must be a template name')
      if (b.skip_pre_post !== undefined && typeof b.skip_pre_post !== 'boolean') throw invalid('skip_pre_post must be a boolean')
      const teamId = b.team_id ?? admin.teamId
      if (typeof teamId !== 'string' || !teamId) throw invalid('team_id is required (the team whose capsule runs the build) when the session has no active team')
      const templates = await d.capsules.admin.snapshots.list(system, undefined)
      if (!templates.some((t) => t.name === base && (t.team_id === null || t.team_id === teamId))) throw invalid(`base template "${base.slice(0, 64)}" not found`, 'template_not_found')
      if (templates.some((t) => t.team_id === null && t.name === b.name)) throw conflict(`a platform template named "${b.name}" already exists`, 'already_exists')
      const row: BuildRow = {
        id: d.ids.id('bld-', 16),
        name: b.name,
        base_template: base,
        recipe: JSON.stringify(steps.map((s) => s.raw)),
        healthcheck: typeof b.healthcheck === 'string' ? b.healthcheck.trim() : '',
        vcpus: optInt(b.vcpus, 'vcpus', 1, 256),
        memory_mb: optInt(b.memory_mb, 'memory_mb', 16, 1 << 20),
        team_id: teamId,
        created_by: admin.userId,
        status: 'queued',
        current_step: 0,
        total_steps: steps.length,
        logs: '[]',
        error: null,
        sandbox_id: null,
        template_id: null,
        created_at: d.clock.now(),
        started_at: null,
        completed_at: null,
      }
      await insertBuild(d.db, row)
      await d.audit.record(p, { teamId: null, resourceType: 'build', resourceId: row.id, action: 'create', metadata: { name: row.name, base_template: base } })
      publish(row, 'queued')
      void pump()
      return row
    },

    async list(p: Principal): Promise<BuildRow[]> {
      requireAdmin(p)
      return listBuilds(d.db, 500)
    },

    async get(p: Principal, id: string): Promise<BuildRow> {
      requireAdmin(p)
      const b = await findBuild(d.db, id)
      if (!b) throw notFound(`build ${id.slice(0, 64)} not found`)
      return b
    },

    /** Cancels a queued or running build; returns once its capsule (and any template) is gone. */
    async cancel(p: Principal, id: string): Promise<void> {
      const b = await this.get(p, id)
      if (b.status === 'queued' && (await transitionBuild(d.db, id, ['queued'], { status: 'cancelled', completed_at: d.clock.now() }))) {
        publish(b, 'cancelled')
      } else {
        const run = active.get(id)
        if (!run) {
          const cur = (await findBuild(d.db, id))!
          if (cur.status === 'cancelled') return
          throw conflict(`build ${id} is ${cur.status}; only queued or running builds can be cancelled`, 'build_finished')
        }
        run.ctl.cancelled = true
        run.ctl.kill?.()
        await run.done
      }
      await d.audit.record(p, { teamId: null, resourceType: 'build', resourceId: id, action: 'cancel', metadata: { name: b.name } })
    },

    /** After a restart: builds that were queued or running end as failed, and their capsules go. */
    async recover(): Promise<void> {
      for (const b of await buildsInStatus(d.db, ['queued', 'running'])) {
        const reason = `nestbox restarted while the build was ${b.status}`
        await transitionBuild(d.db, b.id, [b.status], { status: 'failed', error: reason, completed_at: d.clock.now() })
        if (b.sandbox_id) await d.capsules.admin.destroy(system, b.sandbox_id).catch(() => {})
        publish(b, 'failed', { error: reason })
      }
      stopped = false
    },

    /** Shutdown: running builds stop (failed, with the reason) and leave no capsule behind. */
    async stop(): Promise<void> {
      stopped = true
      for (const r of active.values()) {
        r.ctl.cancelled = true
        r.ctl.reason = 'nestbox stopped during the build'
        r.ctl.kill?.()
      }
      await Promise.allSettled([...active.values()].map((r) => r.done))
    },
  }
}
export type BuildService = ReturnType<typeof createBuildService>
