/** Kysely row types of the identity tables (sqlite/0001_foundation.sql and later). */
import type { Generated } from 'kysely'

export interface UserRow {
  id: string
  email: string
  name: string
  password_hash: string | null
  is_active: number
  is_admin: number
  created_at: number
  updated_at: number
  deleted_at: number | null
  /** Set once, when the account is first activated; null while a signup is pending. */
  activated_at: number | null
}
export interface TeamRow {
  id: string
  name: string
  slug: string
  is_byoc: number
  created_at: number
  deleted_at: number | null
}
export interface TeamMemberRow {
  team_id: string
  user_id: string
  role: 'owner' | 'admin' | 'member' | 'viewer'
  created_at: number
}
export interface ApiKeyRow {
  id: string
  team_id: string
  created_by: string
  name: string
  key_prefix: string
  key_hash: string
  created_at: number
  last_used_at: number | null
}
export type SessionSurface = 'wrenn' | 'workspace'
export interface SessionRow {
  id: string
  token_hash: string
  surface: SessionSurface
  user_id: string
  team_id: string | null
  csrf_hash: string
  user_agent: string
  ip_address: string
  created_at: number
  last_seen_at: number
  expires_at: number
}
export interface AuditLogRow {
  id: string
  team_id: string | null
  actor_type: 'user' | 'api_key' | 'host' | 'system'
  actor_id: string
  actor_name: string
  resource_type: string
  resource_id: string
  action: string
  status: string
  metadata: Generated<string>
  created_at: number
}

export interface EmailTokenRow {
  token_hash: string
  user_id: string
  purpose: 'activate' | 'reset'
  created_at: number
  expires_at: number
  used_at: number | null
}
export interface OAuthIdentityRow {
  provider: string
  subject: string
  user_id: string
  email: string
  created_at: number
}
export interface OAuthStateRow {
  state_hash: string
  provider: string
  surface: SessionSurface
  link_user_id: string | null
  redirect_uri: string
  code_verifier: string
  nonce: string
  created_at: number
  expires_at: number
}

export interface IdentityTables {
  users: UserRow
  teams: TeamRow
  team_members: TeamMemberRow
  api_keys: ApiKeyRow
  sessions: SessionRow
  audit_logs: AuditLogRow
  email_tokens: EmailTokenRow
  oauth_identities: OAuthIdentityRow
  oauth_states: OAuthStateRow
}
