/** Health endpoints of every surface that defines one. */
import { Hono } from 'hono'
import type { AppEnv } from './types.ts'

export function healthRoutes(d: { version: string; startedAt: number; dbOk: () => boolean }) {
  const r = new Hono<AppEnv>()
  // compat(gateway 000): LiteLLM's liveness probe answers plain "I'm alive!".
  r.get('/health/liveliness', (c) => c.json("I'm alive!"))
  // compat(cloudbox 002)
  r.get('/api/health', (c) => c.json({ ok: true, name: 'cloudbox', version: d.version, uptime_s: Math.round((Date.now() - d.startedAt) / 1000) }))
  r.get('/v1/health', (c) => {
    const ok = d.dbOk()
    return c.json({ status: ok ? 'ok' : 'degraded', version: d.version, database: ok ? 'ok' : 'error' }, ok ? 200 : 503)
  })
  return r
}
