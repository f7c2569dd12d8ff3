/** The cloudbox API (seed 002) under /api: runs (POST /api/runs, GET /api/runs/recent, /api/runs/:runId, /api/runs/:runId/events as SSE) and the computers' routes. */
import { Hono, type Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { invalid } from '../core/errors.ts'
import type { AppEnv } from '../http/types.ts'
import type { RunEvent } from './runner.ts'
import type { CloudboxService } from './setup.ts'
import { computerRoutes } from './routes.computers.ts'

/** `Authorization: Bearer <token>` (not a nestbox key, which the surface's entry resolved) or `x-cloudbox-token`. */
export const cloudboxToken = (c: Context<AppEnv>) => c.req.header('x-cloudbox-token') || c.req.header('authorization')?.match(/^Bearer\s+(\S+)$/i)?.[1]

export function runRoutes(runs: CloudboxService) {
  const r = new Hono<AppEnv>()
  const caller = (c: Context<AppEnv>) => runs.caller(c.get('principal'), cloudboxToken(c))

  r.post('/runs', async (c) => {
    const who = caller(c)
    const body = await c.req.json().catch(() => Promise.reject(invalid('request body is not valid JSON', 'invalid_json')))
    const run = await runs.start(who, body)
    if (run.input.async) return c.json({ runId: run.runId, status: 'running' }, 202)
    const a = await run.done
    return c.json(a.body, a.status)
  })

  r.get('/runs/recent', async (c) => c.json(await runs.recent(caller(c))))
  r.get('/runs/:runId', async (c) => c.json(await runs.get(caller(c), c.req.param('runId'))))

  // Each receipt as it finishes (event `receipt` for steps, `runner` for the capsule's life), then `result` with the whole answer.
  r.get('/runs/:runId/events', async (c) => {
    const who = caller(c)
    const pending: RunEvent[] = []
    let send: ((e: RunEvent) => void) | null = null
    const f = await runs.follow(who, c.req.param('runId'), (e) => (send ? send(e) : pending.push(e)))
    return streamSSE(c, async (s) => {
      s.onAbort(f.unsubscribe)
      send = (e) => void s.writeSSE({ event: e.kind, data: JSON.stringify(e.receipt) })
      for (const e of pending.splice(0)) send(e)
      const result = await f.finished
      if (result) await s.writeSSE({ event: 'result', data: JSON.stringify(result) })
    })
  })
  r.route('/', computerRoutes(runs.computers, caller))
  return r
}
