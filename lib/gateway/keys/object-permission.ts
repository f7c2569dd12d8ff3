/**
 * compat(litellm): `object_permission` of a key (/key/generate, /key/update) or
 * a team (/team/update). nestbox enforces `mcp_servers` (the MCP hub, lib/mcp);
 * other LiteLLM fields are refused rather than stored and ignored.
 */
import { badRequest } from '../errors.ts'

/** The stored JSON of an object_permission input (null clears it). */
export function parseObjectPermission(v: unknown): string | null {
  if (v === null) return null
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('object_permission must be an object like {"mcp_servers": ["github"]}', 'object_permission')
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) if (k !== 'mcp_servers') throw badRequest(`object_permission.${k} is not supported (only mcp_servers)`, 'object_permission')
  const servers = o.mcp_servers
  if (servers === undefined || servers === null) return null
  if (!Array.isArray(servers) || !servers.every((s) => typeof s === 'string' && s.length > 0 && s.length <= 64)) throw badRequest('object_permission.mcp_servers must be a list of MCP server names', 'object_permission')
  return JSON.stringify({ mcp_servers: [...new Set(servers)] })
}

/** The MCP servers a stored object_permission allows; null when it does not restrict them (absent or an empty list). */
export function mcpServersOf(stored: string | null | undefined): string[] | null {
  if (!stored) return null
  const list = (JSON.parse(stored) as { mcp_servers?: string[] }).mcp_servers
  return list && list.length ? list : null
}

/** The wire form: LiteLLM answers an object (its fields empty when unset). */
export const toObjectPermission = (stored: string | null | undefined) => ({ mcp_servers: mcpServersOf(stored) ?? [] })
