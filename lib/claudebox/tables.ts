/** Kysely row types of the claudebox tables (sqlite/0060_claudebox.sql). */
export interface WorkspaceRow {
  id: string
  /** The surface: 'claudebox' or 'claudebox-zai'. */
  instance: string
  team_id: string
  name: string
  capsule_id: string | null
  /** The Claude Code session the last run ended in (continued by the next run). */
  session_id: string | null
  created_at: number
  last_run_at: number | null
}

export interface TokenRow {
  instance: string
  token_hash: string
  team_id: string
  created_at: number
}

export interface ClaudeboxTables {
  claudebox_workspaces: WorkspaceRow
  claudebox_tokens: TokenRow
}
