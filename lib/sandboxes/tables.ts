/** Kysely row types of the sandbox tables (sqlite/0070_sandboxes.sql). */
export type SandboxType = 'opencode' | 'openclaw'
/** 'cloud': a capsule of the workspace's team; 'local': an agent on the user's machine behind a tunnel. */
export type SandboxKind = 'cloud' | 'local'
export type SandboxStatus = 'creating' | 'running' | 'paused' | 'offline' | 'stopped' | 'error'

export interface SandboxRow {
  id: string
  /** The host label part: `{prefix}-{short_id}.{baseDomain}`. */
  short_id: string
  /** The workspace (a team). */
  team_id: string
  name: string
  type: SandboxType
  kind: SandboxKind
  status: SandboxStatus
  capsule_id: string | null
  tunnel_token_hash: string | null
  agent_info: string | null
  error: string | null
  created_by: string | null
  created_at: number
  updated_at: number
  last_seen_at: number | null
}

export interface SandboxTables {
  sandboxes: SandboxRow
}
