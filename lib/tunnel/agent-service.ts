/**
 * Local-agent registration (seed 001): a workspace developer asks for a one-time
 * code; `nestbox agent connect --code` trades it for a local sandbox and its
 * tunnel token. Codes are 24 hex, valid 10 minutes, used once; only their
 * SHA-256 is stored. The sandbox itself belongs to lib/sandboxes.
 */
import { randomBytes } from 'node:crypto'
import type { Db } from '../core/db.ts'
import { invalid, unauthorized } from '../core/errors.ts'
import type { Clock } from '../core/ids.ts'
import type { Principal } from '../core/principal.ts'
import { sha256hex } from '../core/secrets.ts'
import { reachTeam, requireRole, WORKSPACE_POLICY } from '../identity/access.ts'
import { findTeamById } from '../identity/store.ts'
import type { SandboxService } from '../sandboxes/service.ts'
import { deleteStaleAgentCodes, insertAgentCode, releaseAgentCode, takeAgentCode } from './agent-store.ts'

export const CODE_TTL_MS = 10 * 60_000
const CODE = /^[0-9a-f]{24}$/

export type AgentServiceDeps = { db: Db; clock: Clock; sandboxes: Pick<SandboxService, 'createLocal' | 'verifyTunnelToken'> }

export function createAgentService(d: AgentServiceDeps) {
  return {
    /** A one-time registration code for the workspace; needs developer or above. */
    async createCode(p: Principal, workspaceId: string): Promise<{ code: string; expiresAt: number }> {
      const { role } = await reachTeam(d.db, p, workspaceId, WORKSPACE_POLICY)
      requireRole(role, 'member')
      const code = randomBytes(12).toString('hex')
      const now = d.clock.now()
      const createdBy = p.kind === 'user' ? p.userId : null
      await insertAgentCode(d.db, { code_hash: sha256hex(code), team_id: workspaceId, created_by: createdBy, created_at: now, expires_at: now + CODE_TTL_MS, used_at: null })
      return { code, expiresAt: now + CODE_TTL_MS }
    },

    /** Trades a code for a new local sandbox in the code's workspace and its tunnel token. */
    async register(input: { code?: unknown; name?: unknown }): Promise<{ sandboxId: string; tunnelToken: string; workspaceId: string }> {
      if (input.code === undefined || input.code === null || input.code === '') throw invalid('code is required', 'code_required')
      if (typeof input.code !== 'string') throw invalid('code must be a string', 'invalid_code')
      if (input.name !== undefined && input.name !== null && typeof input.name !== 'string') throw invalid('name must be a string', 'invalid_name')
      const code = input.code.trim().toLowerCase()
      const expired = unauthorized('invalid or expired code', 'invalid_code')
      if (!CODE.test(code)) throw expired
      const hash = sha256hex(code)
      const row = await takeAgentCode(d.db, hash, d.clock.now())
      if (!row || !(await findTeamById(d.db, row.team_id))) throw expired
      try {
        const { sandbox, tunnelToken } = await d.sandboxes.createLocal({ workspaceId: row.team_id, name: (input.name as string | undefined) ?? 'Local Agent', createdBy: row.created_by })
        return { sandboxId: sandbox.id, tunnelToken, workspaceId: row.team_id }
      } catch (err) {
        await releaseAgentCode(d.db, hash) // a refused name must not burn the code
        throw err
      }
    },

    /** Whether `token` is the tunnel token of local sandbox `sandboxId`. */
    authorizeTunnel: async (sandboxId: string, token: string) => (await d.sandboxes.verifyTunnelToken(sandboxId, token)) !== null,

    /** Deletes codes that expired or were used over an hour ago (a job). */
    sweep: async () => Number((await deleteStaleAgentCodes(d.db, d.clock.now(), 60 * 60_000)).numDeletedRows),
  }
}
export type AgentService = ReturnType<typeof createAgentService>
