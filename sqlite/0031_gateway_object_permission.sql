-- LiteLLM's object_permission on keys and teams: which MCP servers (lib/mcp) they may use.
-- JSON {"mcp_servers": [...]}; NULL = no restriction.
ALTER TABLE gateway_keys ADD COLUMN object_permission TEXT;
ALTER TABLE gateway_team_budgets ADD COLUMN object_permission TEXT;
