/** Request-body reading and Wrenn (seed 003) wire shapes for identity objects. */
import type { Context } from 'hono'
import { invalid } from '../core/errors.ts'
import { iso } from '../core/ids.ts'
import type { LoginResult } from './accounts.ts'

/** The JSON object body; an empty body reads as {}. */
export async function readJson(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text()
  if (!text.trim()) return {}
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    throw invalid('request body is not valid JSON', 'invalid_json')
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid('request body must be a JSON object', 'invalid_json')
  return v as Record<string, unknown>
}

export const toSessionResponse = (r: LoginResult, role = r.role) => ({
  user_id: r.user.id,
  team_id: r.session.teamId,
  email: r.user.email,
  name: r.user.name,
  role,
  is_admin: r.user.isAdmin,
})

export const toTeam = (t: { id: string; name: string; slug: string; created_at: number; is_byoc?: number }) => ({
  id: t.id,
  name: t.name,
  slug: t.slug,
  is_byoc: !!t.is_byoc,
  created_at: iso(t.created_at),
})

export const toTeamWithRole = (t: Parameters<typeof toTeam>[0] & { role: string | null }) => ({ ...toTeam(t), role: t.role })

export const toMember = (m: { user_id: string; email: string; name: string; role: string; created_at: number }) => ({
  user_id: m.user_id,
  email: m.email,
  name: m.name,
  role: m.role,
  joined_at: iso(m.created_at),
})

export const toApiKey = (k: { id: string; team_id: string; name: string; key_prefix: string; created_by: string; created_at: number; last_used_at: number | null; key?: string }) => ({
  id: k.id,
  team_id: k.team_id,
  name: k.name,
  key_prefix: k.key_prefix,
  created_by: k.created_by,
  created_at: iso(k.created_at),
  last_used: iso(k.last_used_at),
  ...(k.key ? { key: k.key } : {}),
})
