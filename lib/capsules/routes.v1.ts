/**
 * Wrenn surface (seed 003) of capsules: lifecycle, exec, processes, metrics,
 * stats and usage. Mounted twice: /v1/capsules (team scope) and
 * /v1/admin/capsules (admin scope, which answers create with 201, destroy with 204).
 */
import { Hono, type Context } from 'hono'
import type { AppEnv } from '../http/types.ts'
import type { Scope } from './access.ts'
import type { CapsuleService } from './service.ts'
import { toWrennCapsule, toWrennExec, toWrennMetricPoint, toWrennProcess, toWrennTemplate } from './wire.v1.ts'
import { capsuleFileRoutesV1 } from './routes.v1-files.ts'
import { capsuleSocketRoutesV1 } from './routes.v1-ws.ts'

/** A JSON body, where an empty body counts as {}. */
export async function jsonBody(c: Context<AppEnv>): Promise<unknown> {
  const text = await c.req.text()
  return text.trim() === '' ? {} : JSON.parse(text)
}

export function capsuleRoutesV1(svc: CapsuleService, scope: Scope) {
  const v = scope === 'admin' ? svc.admin : svc.team
  const r = new Hono<AppEnv>()

  r.post('/', async (c) => {
    const row = await v.create(c.var.principal, await jsonBody(c))
    return c.json(toWrennCapsule(row), scope === 'admin' ? 201 : 202)
  })
  r.get('/', async (c) => c.json((await v.list(c.var.principal)).map((row) => toWrennCapsule(row))))

  if (scope === 'team') {
    r.get('/stats', async (c) => {
      const s = await svc.team.stats(c.var.principal, c.req.query('range') ?? '1h')
      return c.json({
        range: s.range,
        current: { running_count: s.current.running, vcpus_reserved: s.current.vcpus, memory_mb_reserved: s.current.memory_mb, sampled_at: new Date(s.current.sampledAt).toISOString() },
        peaks: { running_count: s.peaks.running, vcpus: s.peaks.vcpus, memory_mb: s.peaks.memory_mb },
        series: { labels: s.series.labels.map((t) => new Date(t).toISOString()), running: s.series.running, vcpus: s.series.vcpus, memory_mb: s.series.memory_mb },
      })
    })
    r.get('/usage', async (c) => {
      const u = await svc.team.usage(c.var.principal, c.req.query('from'), c.req.query('to'))
      return c.json({ from: u.from, to: u.to, points: u.points.map((pt) => ({ date: pt.date, cpu_minutes: Math.round(pt.cpuMinutes * 1e4) / 1e4, ram_mb_minutes: Math.round(pt.ramMbMinutes * 100) / 100 })) })
    })
  }

  r.get('/:id', async (c) => {
    const row = await v.get(c.var.principal, c.req.param('id'))
    return c.json(toWrennCapsule(row, { diskUsedBytes: await v.diskUsedBytes(row.id) }))
  })
  r.delete('/:id', async (c) => {
    await v.destroy(c.var.principal, c.req.param('id'))
    return c.body(null, scope === 'admin' ? 204 : 202)
  })
  r.post('/:id/pause', async (c) => c.json(toWrennCapsule(await v.pause(c.var.principal, c.req.param('id'))), 202))
  r.post('/:id/resume', async (c) => c.json(toWrennCapsule(await v.resume(c.var.principal, c.req.param('id'))), 202))
  r.post('/:id/ping', async (c) => {
    await v.ping(c.var.principal, c.req.param('id'))
    return c.body(null, 204)
  })

  r.post('/:id/exec', async (c) => {
    const id = c.req.param('id')
    const out = await v.processes.run(c.var.principal, id, await jsonBody(c))
    if ('handle' in out) return c.json({ sandbox_id: id, cmd: out.input.cmd, pid: out.handle.pid, tag: out.handle.tag ?? '' }, 202)
    return c.json(toWrennExec(id, out.input.cmd, out.result))
  })
  r.get('/:id/processes', async (c) => c.json({ processes: (await v.processes.list(c.var.principal, c.req.param('id'))).map(toWrennProcess) }))
  r.delete('/:id/processes/:selector', async (c) => {
    await v.processes.kill(c.var.principal, c.req.param('id'), c.req.param('selector'), c.req.query('signal'))
    return c.body(null, 204)
  })

  r.get('/:id/metrics', async (c) => {
    const m = await v.metrics(c.var.principal, c.req.param('id'), c.req.query('range') ?? '10m')
    return c.json({ sandbox_id: m.id, range: m.range, points: m.points.map(toWrennMetricPoint) })
  })

  if (scope === 'admin') {
    r.post('/:id/snapshot', async (c) => {
      const body = (await jsonBody(c)) as Record<string, unknown>
      return c.json(toWrennTemplate(await v.snapshots.snapshot(c.var.principal, c.req.param('id'), body?.name)), 201)
    })
  }

  r.route('/', capsuleFileRoutesV1(v, { maxUploadBytes: svc.config.limits.maxUploadMb * 1024 * 1024 }))
  r.route('/', capsuleSocketRoutesV1(v))
  return r
}

/** /v1/snapshots (team) and /v1/admin/templates (admin). */
export function templateRoutesV1(svc: CapsuleService, scope: Scope) {
  const v = scope === 'admin' ? svc.admin : svc.team
  const r = new Hono<AppEnv>()
  if (scope === 'team') {
    r.post('/', async (c) => {
      const body = (await jsonBody(c)) as Record<string, unknown>
      return c.json(toWrennTemplate(await v.snapshots.snapshot(c.var.principal, body?.sandbox_id, body?.name)), 201)
    })
  }
  r.get('/', async (c) => c.json((await v.snapshots.list(c.var.principal, c.req.query('type'))).map(toWrennTemplate)))
  r.delete('/:name', async (c) => {
    await v.snapshots.remove(c.var.principal, c.req.param('name'), c.req.query('team_id'))
    return c.body(null, 204)
  })
  return r
}
