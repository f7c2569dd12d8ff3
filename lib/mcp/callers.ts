/**
 * Who calls the hub: any key the gateway accepts (master, virtual incl.
 * capsule keys, nestbox API keys). Built-in tools act as the key's team: a
 * nestbox API key as itself, a virtual key with a team as a member of it, the
 * master key (no team) as nobody.
 */
import type { Principal } from '../core/principal.ts'
import type { Caller } from '../gateway/keys/callers.ts'
import type { IdentityService } from '../identity/service.ts'

export async function principalOf(c: Caller, token: string, identity: IdentityService): Promise<Principal | null> {
  if (c.kind === 'team_key') return identity.keys.peek(token) ?? (await identity.authenticateApiKey(token))
  if (c.kind === 'virtual' && c.teamId && c.key) {
    const r = c.key.row
    return { kind: 'api_key', keyId: r.id, keyName: r.key_alias ?? r.key_name, userId: r.user_id ?? r.created_by, teamId: c.teamId, role: 'member', isAdmin: false }
  }
  return null
}

/** How audit entries name the key: its alias, else the masked key, else "master". */
export const keyNameOf = (c: Caller) => (c.kind === 'master' ? 'master' : (c.keyAlias ?? c.key?.row.key_name ?? ''))
