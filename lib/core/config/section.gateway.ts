import { int, json, str } from './spec.ts'

const isObject = (v: unknown): v is Record<string, unknown> => v != null && typeof v === 'object' && !Array.isArray(v)

/** LLM gateway settings. Owned by lib/gateway; models and routing usually come from a LiteLLM config.yaml (litellm.ts). */
export const gateway = {
  /** A LiteLLM proxy config.yaml read as-is (model_list, model_info, router_settings, litellm_settings, general_settings). */
  litellmConfig: str('', { allowEmpty: true, doc: 'path of a LiteLLM config.yaml; empty = none' }),
  /** The gateway's master key; empty = general_settings.master_key, else generated at first start into bootstrap.txt. */
  masterKey: str('', { secret: true, allowEmpty: true, pattern: /^sk-\S{8,}$/, patternDoc: '"sk-" and at least 8 more characters' }),
  /** Models in LiteLLM's model_list shape, added to the LiteLLM file's (os.environ/NAME references allowed). */
  modelList: json<unknown[]>([], (v) => (Array.isArray(v) ? null : 'must be a list of {model_name, litellm_params, model_info}'), { secret: true }),
  /** MCP servers in LiteLLM's mcp_servers shape, by name, added to the LiteLLM file's (served by lib/mcp at /mcp/). */
  mcpServers: json<Record<string, unknown>>({}, (v) => (isObject(v) ? null : 'must be an object of MCP servers by name'), { secret: true }),
  /** LiteLLM router_settings, overriding the file's key by key. */
  routerSettings: json<Record<string, unknown>>({}, (v) => (isObject(v) ? null : 'must be an object of LiteLLM router_settings')),
  /** Timezone budgets of 1d/7d/30d reset in (midnight, Monday, the 1st). */
  budgetTimezone: str('UTC', { pattern: /^[A-Za-z_+\-0-9/]+$/, patternDoc: 'an IANA timezone like Europe/Berlin' }),
  /** Largest request body of a gateway call (images and audio travel inline). */
  maxRequestBodyMb: int(32, 1, 1024),
  spendLogs: {
    /** Spend log rows older than this are deleted. */
    retentionDays: int(30, 1, 3650),
    /** Spend rows are written in batches at most this often (never on the request's path). */
    flushMs: int(500, 10, 60_000),
  },
}
