/**
 * The sandbox endpoints of the workspace API (seed 001): /api/workspaces/{wid}/sandboxes
 * and /api/sandboxes/{id}[/pause|/resume], mounted inside the /api surface (session
 * cookie or API key; plain error envelope).
 */
import { Hono } from 'hono'
import { iso } from '../core/ids.ts'
import type { Principal } from '../core/principal.ts'
import { readJson } from '../identity/wire.ts'
import type { AppEnv } from '../http/types.ts'
import type { Entry } from './entry.ts'
import type { SandboxService } from './service.ts'
import type { SandboxRow } from './tables.ts'

function agentInfo(raw: string | null): unknown {
  try {
    return raw ? JSON.parse(raw) : null
  } catch {
    return null
  }
}

export function toWireSandbox(sb: SandboxRow, url: string | null) {
  return {
    id: sb.id,
    workspace_id: sb.team_id,
    name: sb.name,
    type: sb.type,
    status: sb.status,
    is_local: sb.kind === 'local',
    short_id: sb.short_id,
    [sb.type === 'openclaw' ? 'openclaw_url' : 'opencode_url']: url,
    capsule_id: sb.capsule_id,
    error: sb.error,
    ...(sb.kind === 'local' ? { agent_info: agentInfo(sb.agent_info) } : {}),
    created_by: sb.created_by,
    created_at: iso(sb.created_at),
    updated_at: iso(sb.updated_at),
    last_activity_at: iso(sb.last_seen_at),
  }
}

export function sandboxRoutes(svc: SandboxService, entry: Entry, scheme: () => string) {
  const r = new Hono<AppEnv>()
  const wire = (p: Principal, sb: SandboxRow) => toWireSandbox(sb, entry.url(p, sb, scheme()))

  r.get('/workspaces/:wid/sandboxes', async (c) => {
    const p = c.get('principal')
    return c.json((await svc.list(p, c.req.param('wid'))).map((sb) => wire(p, sb)))
  })
  r.post('/workspaces/:wid/sandboxes', async (c) => {
    const p = c.get('principal')
    return c.json(wire(p, await svc.create(p, c.req.param('wid'), await readJson(c))), 201)
  })
  r.get('/sandboxes/:id', async (c) => c.json(wire(c.get('principal'), await svc.get(c.get('principal'), c.req.param('id')))))
  r.delete('/sandboxes/:id', async (c) => {
    await svc.remove(c.get('principal'), c.req.param('id'))
    return c.body(null, 204)
  })
  r.post('/sandboxes/:id/pause', async (c) => c.json(wire(c.get('principal'), await svc.pause(c.get('principal'), c.req.param('id')))))
  r.post('/sandboxes/:id/resume', async (c) => c.json(wire(c.get('principal'), await svc.resume(c.get('principal'), c.req.param('id')))))
  return r
}
