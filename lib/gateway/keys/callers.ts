/**
 * Who calls the gateway: the master key, a nestbox API key (wrn_, acting for its
 * team), or a virtual key (sk-, LiteLLM's /key/generate). Resolution is
 * synchronous for keys seen recently, so the hot path does no database work.
 */
import { hash } from 'node:crypto'
import type { Role } from '../../core/principal.ts'
import type { IdentityService } from '../../identity/service.ts'
import { authError } from '../errors.ts'
import type { KeyState, VirtualKeys } from './keys.ts'

export type Caller = {
  /** 'sandbox': a sandbox's proxy token on /proxy/anthropic (proxy-tokens.ts). */
  kind: 'master' | 'team_key' | 'virtual' | 'sandbox'
  /** SHA-256 of the presented key (the spend log's api_key). */
  keyHash: string
  keyAlias: string | null
  teamId: string | null
  /** The nestbox user behind a wrn_ key, or a virtual key's user_id. */
  userId: string | null
  /** The wrn_ key's role in its team (null for other callers). */
  role: Role | null
  /** Virtual keys: their live state (limits, budget, spend). */
  key: KeyState | null
  /** 'sandbox' callers: the sandbox and its capsule that spend is attributed to. */
  sandboxId?: string
  capsuleId?: string | null
}

export const keyHash = (token: string) => hash('sha256', token, 'hex')

/** compat(litellm): the key may come in any of these headers. */
export function presentedToken(h: Record<string, string | string[] | undefined>): string | undefined {
  const auth = h.authorization
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth)
    if (m) return m[1]
  }
  for (const name of ['x-api-key', 'api-key', 'x-litellm-api-key']) {
    const v = h[name]
    if (typeof v === 'string' && v.trim()) return v.trim().replace(/^Bearer\s+/i, '')
  }
  return undefined
}

export function createCallers(d: { identity: IdentityService; keys: VirtualKeys; masterHash: () => string | null }) {
  let master: Caller | null = null
  let masterToken: string | null = null

  const teamCaller = (p: { keyId: string; teamId: string; userId: string; role: Role; keyName: string }, token: string): Caller => ({
    kind: 'team_key',
    keyHash: keyHash(token),
    keyAlias: p.keyName,
    teamId: p.teamId,
    userId: p.userId,
    role: p.role,
    key: null,
  })

  const virtualCaller = (k: KeyState): Caller => k.caller

  return {
    /** The caller for a presented key; throws 401 when it is missing or unknown. Returns a promise only on a cache miss. */
    resolve(token: string | undefined): Caller | Promise<Caller> {
      if (!token) throw authError('No api key passed in.')
      if (token.startsWith('wrn_')) {
        const cached = d.identity.keys.peek(token)
        if (cached) return teamCaller(cached, token)
        return d.identity.authenticateApiKey(token).then((p) => {
          if (!p) throw authError('Authentication Error, invalid nestbox API key.')
          return teamCaller(p, token)
        })
      }
      if (token === masterToken && master) return master
      const live = d.keys.peek(token)
      if (live) return virtualCaller(live)
      const h = keyHash(token)
      const mh = d.masterHash()
      if (mh && h === mh) {
        // Remembered as presented (like identity's key cache), so later requests skip the hash.
        masterToken = token
        return (master ??= { kind: 'master', keyHash: h, keyAlias: null, teamId: null, userId: null, role: null, key: null })
      }
      return d.keys.load(token, h).then((k) => {
        if (!k) throw authError('Authentication Error, invalid proxy server token passed. Received API key does not match any known key.')
        return virtualCaller(k)
      })
    },
  }
}
export type Callers = ReturnType<typeof createCallers>
