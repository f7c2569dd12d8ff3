/** Wrenn surface (seed 003): /v1/admin/users*, /v1/admin/teams* (platform admins). */
import { Hono } from 'hono'
import { iso } from '../../core/ids.ts'
import type { Services } from '../../http/services.ts'
import type { AppEnv } from '../../http/types.ts'
import { readJson } from '../wire.ts'

export function adminRoutesV1(s: Services) {
  const { admin } = s.identity
  const r = new Hono<AppEnv>()

  r.get('/admin/users', async (c) =>
    c.json(
      (await admin.listUsers(c.get('principal'))).map((u) => ({
        id: u.id,
        email: u.email,
        name: u.name,
        is_active: !!u.is_active,
        is_admin: !!u.is_admin,
        status: u.is_active ? 'active' : u.activated_at == null ? 'pending' : 'disabled',
        has_password: u.password_hash != null,
        teams_count: Number(u.team_count ?? 0),
        created_at: iso(u.created_at),
      })),
    ),
  )
  r.put('/admin/users/:id/active', async (c) => {
    await admin.setActive(c.get('principal'), c.req.param('id'), await readJson(c))
    return c.body(null, 204)
  })
  r.put('/admin/users/:id/admin', async (c) => {
    await admin.setAdmin(c.get('principal'), c.req.param('id'), await readJson(c))
    return c.body(null, 204)
  })

  r.get('/admin/teams', async (c) =>
    c.json(
      (await admin.listTeams(c.get('principal'))).map((t) => ({
        id: t.id,
        name: t.name,
        slug: t.slug,
        is_byoc: !!t.is_byoc,
        member_count: Number(t.member_count ?? 0),
        owner_email: t.owner_email ?? null,
        created_at: iso(t.created_at),
        deleted_at: iso(t.deleted_at),
      })),
    ),
  )
  r.put('/admin/teams/:id/byoc', async (c) => {
    await admin.setByoc(c.get('principal'), c.req.param('id'), await readJson(c))
    return c.body(null, 204)
  })
  r.delete('/admin/teams/:id', async (c) => {
    await admin.deleteTeam(c.get('principal'), c.req.param('id'))
    return c.body(null, 204)
  })

  return r
}
