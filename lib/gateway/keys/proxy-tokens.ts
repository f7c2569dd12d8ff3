/**
 * Tokens another nestbox service issues for /proxy/anthropic (seed 001: a
 * sandbox's proxy token as x-api-key). The issuing service alone decides whether
 * a token is valid now; the gateway only asks it, then charges the team it names.
 */
import { notAllowed } from '../errors.ts'
import { keyHash, type Caller } from './callers.ts'

/** Who a valid token acts for: its team, and the thing (e.g. a sandbox) spend is attributed to. */
export type ProxyTokenOwner = { teamId: string; userId: string | null; alias: string; sandboxId: string; capsuleId: string | null }

export type ProxyTokenIssuer = {
  /** Whether the token is of this issuer's shape (then no other caller kind is tried). */
  owns(token: string): boolean
  /** The owner while the token may be used, else null (refused with 403). */
  resolve(token: string): Promise<ProxyTokenOwner | null>
}

export function createProxyTokens() {
  let issuer: ProxyTokenIssuer | null = null
  return {
    register(i: ProxyTokenIssuer) {
      issuer = i
    },
    /** The caller for an issued token; undefined when no issuer owns it; throws 403 when its issuer refuses it. */
    async callerOf(token: string | undefined): Promise<Caller | undefined> {
      if (!token || !issuer?.owns(token)) return undefined
      const o = await issuer.resolve(token)
      if (!o) throw notAllowed('this sandbox proxy token is not valid now: the sandbox is not running or no longer exists')
      return { kind: 'sandbox', keyHash: keyHash(token), keyAlias: o.alias, teamId: o.teamId, userId: o.userId, role: null, key: null, sandboxId: o.sandboxId, capsuleId: o.capsuleId }
    },
  }
}
export type ProxyTokens = ReturnType<typeof createProxyTokens>
