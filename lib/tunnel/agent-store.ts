/** Every query of local-agent registration codes (sqlite/0071_agent_codes.sql). */
import type { Db } from '../core/db.ts'

export interface AgentCodeRow {
  /** SHA-256 of the code. */
  code_hash: string
  /** The workspace (a team) the agent joins. */
  team_id: string
  created_by: string | null
  created_at: number
  expires_at: number
  used_at: number | null
}

export interface AgentTables {
  agent_codes: AgentCodeRow
}

export const insertAgentCode = (db: Db, row: AgentCodeRow) => db.insertInto('agent_codes').values(row).execute()

/** Marks a live, unused code used; the row when this call was the one that used it (a code serves one registration). */
export const takeAgentCode = (db: Db, codeHash: string, now: number) =>
  db.updateTable('agent_codes').set({ used_at: now }).where('code_hash', '=', codeHash).where('used_at', 'is', null).where('expires_at', '>', now).returningAll().executeTakeFirst()

/** Gives a code back when the registration it was taken for failed. */
export const releaseAgentCode = (db: Db, codeHash: string) => db.updateTable('agent_codes').set({ used_at: null }).where('code_hash', '=', codeHash).execute()

/** Codes expired or used more than `graceMs` ago. */
export const deleteStaleAgentCodes = (db: Db, now: number, graceMs: number) =>
  db.deleteFrom('agent_codes').where((eb) => eb.or([eb('expires_at', '<=', now - graceMs), eb('used_at', '<=', now - graceMs)])).executeTakeFirst()
