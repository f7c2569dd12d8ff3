/** Wrenn surface (seed 003) of identity, mounted at /v1. */
import { Hono } from 'hono'
import type { Services } from '../../http/services.ts'
import type { AppEnv } from '../../http/types.ts'
import { accountRoutesV1 } from './routes.v1.account.ts'
import { adminRoutesV1 } from './routes.v1.admin.ts'
import { teamRoutesV1 } from './routes.v1.teams.ts'

export function identityRoutesV1(s: Services) {
  const r = new Hono<AppEnv>()
  r.route('/', accountRoutesV1(s))
  r.route('/', teamRoutesV1(s))
  r.route('/', adminRoutesV1(s))
  return r
}
