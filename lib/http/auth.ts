/**
 * Principal resolution shared by every surface: API key (X-API-Key, or a
 * Bearer wrn_ token). Session cookies and the other schemes are resolved by the
 * identity/surface modules that own them. Missing credentials leave the principal
 * anonymous; routes decide what they require.
 */
import { createMiddleware } from 'hono/factory'
import { unauthorized } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import type { IdentityService } from '../identity/service.ts'
import type { AppEnv } from './types.ts'

export function apiKeyAuth(identity: IdentityService) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('x-api-key')
    const bearer = c.req.header('authorization')?.match(/^Bearer\s+(wrn_\S+)$/i)?.[1]
    const key = header ?? bearer
    if (key !== undefined) {
      const p = await identity.authenticateApiKey(key)
      if (!p) throw unauthorized('invalid API key', 'invalid_api_key')
      c.set('principal', p)
    }
    await next()
  })
}

/** Throws 401 unless the request carries a user or API-key principal. */
export function requireAccount(p: Principal): asserts p is Extract<Principal, { kind: 'user' | 'api_key' }> {
  if (p.kind !== 'user' && p.kind !== 'api_key') throw unauthorized()
}
