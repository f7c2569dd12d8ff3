/**
 * Templates: the built-in platform template and team snapshots. A snapshot of a
 * process-runtime capsule keeps its files, not its running processes.
 */
import { lstat, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { AppError, conflict, forbidden, invalid, notFound } from '../core/errors.ts'
import { actorOf, system, type Principal } from '../core/principal.ts'
import { assertScope, callerTeam, type Scope } from './access.ts'
import type { CapsuleContext } from './context.ts'
import { NAME_RE } from './input.ts'
import { countLiveCapsulesOfTemplate, deleteTemplate, findTemplateForTeam, insertTemplate, listTemplates } from './store.ts'
import type { TemplateRow } from './tables.ts'

export const SNAPSHOT_NOTE = 'process runtime: a snapshot keeps the capsule files, not its running processes'

async function dirSize(dir: string): Promise<number> {
  let total = 0
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else total += (await lstat(p).catch(() => ({ size: 0 }))).size
    }
  }
  await walk(dir)
  return total
}

const actorWire = (p: Principal) => {
  const a = actorOf(p)
  return { type: a.actorType, id: a.actorId, name: a.actorName }
}

export function createTemplateOps(ctx: CapsuleContext) {
  const { db, runtime, clock, ids } = ctx
  const templatesDir = join(ctx.dataDir, 'templates')

  const event = (type: string, p: Principal, t: TemplateRow, outcome: 'success' | 'error') => {
    ctx.bus.publish({ type, teamId: t.team_id, resourceType: 'template', resourceId: t.name, data: { outcome, actor: actorWire(p), template: t.name, source_capsule: t.source_capsule_id } })
    return ctx.audit
      .record(p, { teamId: t.team_id, resourceType: 'template', resourceId: t.name, action: type.endsWith('create') ? 'snapshot.create' : 'snapshot.delete', status: outcome === 'success' ? 'success' : 'failure' })
      .catch((err) => ctx.log.error('audit record failed', { err }))
  }

  const view = (scope: Scope) => ({
    /**
     * Saves a running capsule's filesystem as a team template (409 when the name is taken).
     * `global` (admin scope only, template builds): a platform template every team can use.
     */
    async snapshot(p: Principal, capsuleId: unknown, rawName: unknown, opts: { global?: boolean; metadata?: Record<string, string> } = {}): Promise<TemplateRow> {
      assertScope(p, scope, 'write')
      if (opts.global && scope !== 'admin') throw forbidden('platform templates are made by admins', 'admin_required')
      if (typeof capsuleId !== 'string' || !capsuleId) throw invalid('sandbox_id is required')
      if (rawName !== undefined && rawName !== null && (typeof rawName !== 'string' || !NAME_RE.test(rawName)))
        throw invalid('name must match [a-zA-Z0-9][a-zA-Z0-9._-]{0,63}', 'invalid_name')
      const row = await ctx.load(p, scope, capsuleId, 'write')
      const name = (rawName as string | undefined) ?? ids.id('snap-', 8)
      const taken = opts.global ? (await listTemplates(db, null)).some((t) => t.team_id === null && t.name === name) : !!(await findTemplateForTeam(db, row.team_id, name))
      if (taken) throw conflict(`a template named "${name}" already exists`, 'already_exists')
      return ctx.withLock(row.id, async () => {
        const cur = await ctx.requireRunning(await ctx.reload(row.id))
        const id = ids.id('tpl-', 16)
        const dir = join(templatesDir, id)
        const snapping = await ctx.transition(cur, ['running'], 'snapshotting')
        try {
          await runtime.snapshot(cur.id, dir)
        } catch (err) {
          await rm(dir, { recursive: true, force: true })
          await ctx.transition(snapping, ['snapshotting'], 'running', {}, 'snapshot_failed')
          throw ctx.runtimeError(err, 'snapshot')
        }
        await ctx.transition(snapping, ['snapshotting'], 'running')
        const tpl: TemplateRow = {
          id,
          team_id: opts.global ? null : cur.team_id,
          name,
          type: 'snapshot',
          vcpus: cur.vcpus,
          memory_mb: cur.memory_mb,
          size_bytes: await dirSize(dir),
          root_dir: dir,
          source_capsule_id: cur.id,
          metadata: JSON.stringify({ source_capsule: cur.id, contents: 'files', note: SNAPSHOT_NOTE, ...opts.metadata }),
          created_at: clock.now(),
        }
        try {
          await insertTemplate(db, tpl)
        } catch (err) {
          await rm(dir, { recursive: true, force: true })
          if (/UNIQUE/.test((err as Error).message)) throw conflict(`a template named "${name}" already exists`, 'already_exists')
          throw err
        }
        await event('template.snapshot.create', p, tpl, 'success')
        return tpl
      })
    },

    async list(p: Principal, type: unknown): Promise<TemplateRow[]> {
      assertScope(p, scope, 'read')
      if (type !== undefined && type !== 'base' && type !== 'snapshot') throw invalid('type must be base or snapshot')
      return listTemplates(db, scope === 'admin' ? null : callerTeam(p), type as 'base' | 'snapshot' | undefined)
    },

    /** Deletes a team template and its files; the built-in template and templates in use stay. */
    async remove(p: Principal, name: string, teamId?: string): Promise<void> {
      assertScope(p, scope, 'write')
      let tpl: TemplateRow | undefined
      if (scope === 'team') tpl = await findTemplateForTeam(db, callerTeam(p), name)
      else {
        const all = (await listTemplates(db, null)).filter((t) => t.name === name && (!teamId || t.team_id === teamId))
        if (all.length > 1) throw conflict(`several teams have a template named "${name}"; pass ?team_id=`, 'ambiguous')
        tpl = all[0]
      }
      if (!tpl) throw notFound(`template "${name.slice(0, 64)}" not found`)
      // platform templates: the built-in one stays; built ones (snapshots without a team) only admins remove
      if (tpl.team_id === null && (scope === 'team' || tpl.type === 'base')) throw forbidden(`"${tpl.name}" is a ${tpl.type === 'base' ? 'built-in' : 'platform'} template and cannot be deleted${tpl.type === 'base' ? '' : ' here'}`, 'builtin_template')
      const users = await countLiveCapsulesOfTemplate(db, tpl.id)
      if (users > 0) throw new AppError(409, 'template_in_use', `template "${tpl.name}" is used by ${users} capsule(s); destroy them first`)
      await deleteTemplate(db, tpl.id)
      if (tpl.root_dir) await rm(tpl.root_dir, { recursive: true, force: true })
      await event('template.snapshot.delete', p, tpl, 'success')
    },
  })
  /** A deleted team's snapshot templates and their files go with it (after its capsules). */
  async function removeTeam(teamId: string): Promise<void> {
    for (const t of (await listTemplates(db, teamId)).filter((x) => x.team_id === teamId)) {
      await deleteTemplate(db, t.id)
      if (t.root_dir) await rm(t.root_dir, { recursive: true, force: true })
      await event('template.snapshot.delete', system, t, 'success')
    }
  }
  return { view, removeTeam }
}
