/** Wrenn surface (seed 003 style): GET /v1/admin/tunnel, the Cloudflare tunnel's state for platform admins. */
import { Hono } from 'hono'
import { iso } from '../core/ids.ts'
import type { AppEnv } from '../http/types.ts'
import type { TunnelService, TunnelStatus } from './service.ts'

const toWrennTunnel = (t: TunnelStatus) => ({
  state: t.state,
  mode: t.mode,
  url: t.url,
  public_url: t.publicUrl,
  pid: t.pid,
  restarts: t.restarts,
  last_error: t.lastError,
  version: t.version,
  started_at: t.startedAt == null ? null : iso(t.startedAt),
})

export function tunnelRoutesV1(tunnel: TunnelService) {
  const r = new Hono<AppEnv>()
  r.get('/admin/tunnel', (c) => c.json(toWrennTunnel(tunnel.status(c.get('principal')))))
  return r
}
