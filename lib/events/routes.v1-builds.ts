/** Wrenn surface (seed 003) of template builds: /v1/admin/builds* (platform admins). */
import { Hono } from 'hono'
import { invalid } from '../core/errors.ts'
import { iso } from '../core/ids.ts'
import type { AppEnv } from '../http/types.ts'
import type { BuildService } from './builds/service.ts'
import type { BuildRow } from './tables.ts'

/** compat(wrenn): buildResponse of Wrenn's handlers_builds.go; `template`, `duration_ms` and per-step timings are nestbox's. */
function toWrennBuild(b: BuildRow) {
  const logs = (JSON.parse(b.logs) as Array<Record<string, unknown>>).map((l) => ({
    ...l,
    started_at: iso(l.started_at as number),
    finished_at: iso((l.finished_at as number | undefined) ?? null),
  }))
  return {
    id: b.id,
    name: b.name,
    base_template: b.base_template,
    recipe: JSON.parse(b.recipe) as string[],
    ...(b.healthcheck ? { healthcheck: b.healthcheck } : {}),
    vcpus: b.vcpus ?? 0,
    memory_mb: b.memory_mb ?? 0,
    status: b.status,
    current_step: b.current_step,
    total_steps: b.total_steps,
    logs,
    ...(b.error ? { error: b.error } : {}),
    ...(b.sandbox_id ? { sandbox_id: b.sandbox_id } : {}),
    template: b.status === 'success' ? b.name : null,
    created_at: iso(b.created_at),
    ...(b.started_at ? { started_at: iso(b.started_at) } : {}),
    ...(b.completed_at ? { completed_at: iso(b.completed_at) } : {}),
    duration_ms: b.started_at && b.completed_at ? b.completed_at - b.started_at : null,
  }
}

export function buildRoutesV1(builds: BuildService) {
  const r = new Hono<AppEnv>()
  r.post('/', async (c) => {
    let body: unknown
    try {
      body = await c.req.json()
    } catch {
      throw invalid('request body must be valid JSON')
    }
    return c.json(toWrennBuild(await builds.create(c.var.principal, body)), 202)
  })
  r.get('/', async (c) => c.json((await builds.list(c.var.principal)).map(toWrennBuild)))
  r.get('/:id', async (c) => c.json(toWrennBuild(await builds.get(c.var.principal, c.req.param('id')))))
  r.post('/:id/cancel', async (c) => {
    await builds.cancel(c.var.principal, c.req.param('id'))
    return c.body(null, 204)
  })
  return r
}
