/** Kysely row types of the gateway tables (sqlite/0030_gateway.sql). */

export interface GatewaySettingRow {
  name: string
  value: string
}

export interface GatewayKeyRow {
  id: string
  token_hash: string
  key_name: string
  key_alias: string | null
  team_id: string | null
  user_id: string | null
  /** JSON list of model names / patterns; empty = every model. */
  models: string
  max_budget: number | null
  budget_duration: string | null
  budget_reset_at: number | null
  spend: number
  rpm_limit: number | null
  tpm_limit: number | null
  max_parallel_requests: number | null
  metadata: string
  expires_at: number | null
  blocked: number
  capsule_id: string | null
  /** LiteLLM object_permission JSON ({"mcp_servers": [...]}), null = unrestricted. */
  object_permission: string | null
  created_by: string
  created_at: number
  updated_at: number
}

export interface GatewayTeamBudgetRow {
  team_id: string
  max_budget: number | null
  budget_duration: string | null
  budget_reset_at: number | null
  spend: number
  rpm_limit: number | null
  tpm_limit: number | null
  /** LiteLLM object_permission JSON for the team's keys, null = unrestricted. */
  object_permission: string | null
  updated_at: number
}

export interface GatewaySpendLogRow {
  request_id: string
  call_type: string
  api_key: string
  key_alias: string | null
  spend: number
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  cache_read_tokens: number
  cache_write_tokens: number
  reasoning_tokens: number
  start_time: number
  end_time: number
  completion_start_time: number | null
  model: string
  model_id: string | null
  model_group: string | null
  custom_llm_provider: string | null
  api_base: string | null
  end_user: string | null
  team_id: string | null
  capsule_id: string | null
  metadata: string
  cache_hit: number
  request_tags: string
  status: string
}

export interface GatewayTables {
  gateway_settings: GatewaySettingRow
  gateway_keys: GatewayKeyRow
  gateway_team_budgets: GatewayTeamBudgetRow
  gateway_spend_logs: GatewaySpendLogRow
}
