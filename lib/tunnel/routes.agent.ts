/**
 * Workspace API surface (seed 001) of local agents: registration codes,
 * registration, and the tunnel WebSocket. Errors use the surface's plain envelope.
 */
import { Hono } from 'hono'
import { unauthorized } from '../core/errors.ts'
import { iso } from '../core/ids.ts'
import { acceptWebSocket } from '../http/websocket.ts'
import type { AppEnv } from '../http/types.ts'
import { readJson } from '../identity/wire.ts'
import type { AgentHub } from './agent-hub.ts'
import { MAX_MESSAGE } from './agent-frames.ts'
import { parseFeatures } from './agent-link.ts'
import type { AgentService } from './agent-service.ts'

/** Mounted at /api. */
export function agentRoutesApi(agents: AgentService, hub: AgentHub) {
  const r = new Hono<AppEnv>()

  r.post('/workspaces/:wid/agent-code', async (c) => {
    const { code, expiresAt } = await agents.createCode(c.get('principal'), c.req.param('wid'))
    return c.json({ code, expires_at: iso(expiresAt) })
  })

  r.post('/agent/register', async (c) => {
    const r = await agents.register(await readJson(c))
    return c.json({ sandbox_id: r.sandboxId, tunnel_token: r.tunnelToken, workspace_id: r.workspaceId }, 201)
  })

  r.get('/tunnel/:sandboxId', async (c) => {
    const id = c.req.param('sandboxId')
    if (!(await agents.authorizeTunnel(id, c.req.query('token') ?? ''))) throw unauthorized('invalid tunnel token', 'invalid_tunnel_token')
    const features = parseFeatures(c.req.header('x-tunnel-features'))
    return acceptWebSocket(c, (ws) => hub.attach(id, ws, c.env.incoming.socket, features), { maxPayload: MAX_MESSAGE })
  })
  return r
}
