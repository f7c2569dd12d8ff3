/** Wrenn surface (seed 003) of identity: /v1/me. */
import { Hono } from 'hono'
import { requireAccount } from '../http/auth.ts'
import type { AppEnv } from '../http/types.ts'
import type { IdentityService } from './service.ts'

export function identityRoutesV1(identity: IdentityService) {
  const r = new Hono<AppEnv>()
  r.get('/me', async (c) => {
    const p = c.var.principal
    requireAccount(p)
    const me = await identity.me(p)
    return c.json({ id: me.id, name: me.name, email: me.email, has_password: me.hasPassword, is_admin: me.isAdmin, team_id: me.teamId })
  })
  return r
}
