/**
 * Reads a LiteLLM proxy config.yaml as-is, together with the gateway section's
 * own model list and router settings. `os.environ/NAME` values are resolved
 * here (config is the only module that sees the environment). Keys nestbox does
 * not implement are collected as warnings, reported once at start; values of the
 * wrong shape throw, naming the key.
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'

export type LitellmModel = {
  model_name: string
  litellm_params: Record<string, unknown> & { model: string }
  model_info: Record<string, unknown>
  /** Where the entry came from, for error messages: "config.yaml model_list[2]". */
  origin: string
}

export type LitellmConfig = {
  file: string | null
  modelList: LitellmModel[]
  routerSettings: Record<string, unknown>
  litellmSettings: Record<string, unknown>
  masterKey: string
  /** MCP servers by name (LiteLLM's mcp_servers, then gateway.mcpServers), env references resolved; lib/mcp checks their fields. */
  mcpServers: Record<string, unknown>
  /** Keys present in the file that nestbox does not implement (reported once at start, never silently dropped). */
  unsupported: string[]
}

export class LitellmConfigError extends Error {}

type Kind = 'string' | 'number' | 'boolean' | 'object' | 'list' | 'any'
const PARAMS: Record<string, Kind> = {
  model: 'string', api_base: 'string', base_url: 'string', api_key: 'string', api_version: 'string', organization: 'string',
  rpm: 'number', tpm: 'number', weight: 'number', timeout: 'number', stream_timeout: 'number', max_retries: 'number',
  max_parallel_requests: 'number', extra_headers: 'object', input_cost_per_token: 'number', output_cost_per_token: 'number',
  cache_read_input_token_cost: 'number', cache_creation_input_token_cost: 'number', output_cost_per_reasoning_token: 'number',
  drop_params: 'boolean', merge_reasoning_content_in_choices: 'boolean',
}
const ROUTER: Record<string, Kind> = {
  routing_strategy: 'string', num_retries: 'number', timeout: 'number', stream_timeout: 'number', allowed_fails: 'number',
  cooldown_time: 'number', fallbacks: 'list', context_window_fallbacks: 'list', default_fallbacks: 'list', retry_after: 'number',
  model_group_alias: 'object', disable_cooldowns: 'boolean',
}
const LITELLM: Record<string, Kind> = { drop_params: 'boolean', num_retries: 'number', request_timeout: 'number', fallbacks: 'list', context_window_fallbacks: 'list', default_fallbacks: 'list' }
const GENERAL: Record<string, Kind> = { master_key: 'string' }
const TOP = new Set(['model_list', 'router_settings', 'litellm_settings', 'general_settings', 'environment_variables', 'mcp_servers'])

const isObject = (v: unknown): v is Record<string, unknown> => v != null && typeof v === 'object' && !Array.isArray(v)
const kindOf = (v: unknown): Kind => (Array.isArray(v) ? 'list' : isObject(v) ? 'object' : (typeof v as Kind))

/** Copies the known keys of `obj` after checking their kinds; unknown ones go to `unsupported`. */
function pick(obj: unknown, spec: Record<string, Kind>, where: string, unsupported: string[], fail: (key: string, msg: string) => never) {
  if (obj == null) return {}
  if (!isObject(obj)) fail(where, 'must be a mapping')
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(obj)) {
    const want = spec[k]
    if (!want) {
      unsupported.push(`${where}.${k}`)
      continue
    }
    if (v == null) continue
    // Numbers written as strings ("1000") are common in YAML configs that went through env substitution.
    const value = want === 'number' && typeof v === 'string' && /^\d+(\.\d+)?(e-?\d+)?$/i.test(v.trim()) ? Number(v) : v
    if (want !== 'any' && kindOf(value) !== want) fail(`${where}.${k}`, `must be a ${want}`)
    out[k] = value
  }
  return out
}

/** Replaces every "os.environ/NAME" string in a value (deeply). */
function resolveEnv(v: unknown, env: Record<string, string | undefined>, where: string, fail: (key: string, msg: string) => never): unknown {
  if (typeof v === 'string' && v.startsWith('os.environ/')) {
    const name = v.slice('os.environ/'.length)
    const got = env[name]
    if (got === undefined || got === '') fail(where, `refers to os.environ/${name}, which is not set`)
    return got
  }
  if (Array.isArray(v)) return v.map((x, i) => resolveEnv(x, env, `${where}[${i}]`, fail))
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolveEnv(x, env, `${where}.${k}`, fail)]))
  return v
}

function models(list: unknown, source: string, env: Record<string, string | undefined>, unsupported: string[], fail: (key: string, msg: string) => never): LitellmModel[] {
  if (list == null) return []
  if (!Array.isArray(list)) fail('model_list', 'must be a list')
  return list.map((raw, i) => {
    const where = `model_list[${i}]`
    if (!isObject(raw)) fail(where, 'must be a mapping with model_name and litellm_params')
    const entry = resolveEnv(raw, env, where, fail) as Record<string, unknown>
    for (const k of Object.keys(entry)) if (!['model_name', 'litellm_params', 'model_info'].includes(k)) unsupported.push(`${where}.${k}`)
    if (typeof entry.model_name !== 'string' || !entry.model_name) fail(`${where}.model_name`, 'must be a non-empty string')
    const params = pick(entry.litellm_params, PARAMS, `${where}.litellm_params`, unsupported, fail)
    if (typeof params.model !== 'string' || !params.model) fail(`${where}.litellm_params.model`, 'must name the upstream model, e.g. openai/gpt-4o')
    if (entry.model_info != null && !isObject(entry.model_info)) fail(`${where}.model_info`, 'must be a mapping')
    return { model_name: entry.model_name, litellm_params: params as LitellmModel['litellm_params'], model_info: (entry.model_info as Record<string, unknown>) ?? {}, origin: `${source} ${where}` }
  })
}

export type GatewaySection = { litellmConfig: string; modelList: unknown[]; routerSettings: Record<string, unknown>; masterKey: string; mcpServers?: Record<string, unknown> }

/** The gateway's effective LiteLLM configuration: the file's, then the gateway section's models and router settings on top. */
export function readLitellmConfig(g: GatewaySection, env: Record<string, string | undefined>): LitellmConfig {
  let file: Record<string, unknown> = {}
  const source = g.litellmConfig || 'gateway.modelList'
  const failIn = (src: string) => (key: string, msg: string): never => {
    throw new LitellmConfigError(`config: ${src}: ${key} ${msg}`)
  }
  if (g.litellmConfig) {
    let text: string
    try {
      text = readFileSync(g.litellmConfig, 'utf8')
    } catch (e) {
      throw new LitellmConfigError(`config: cannot read gateway.litellmConfig ${g.litellmConfig}: ${(e as Error).message}`)
    }
    try {
      const parsed = parseYaml(text) ?? {}
      if (!isObject(parsed)) throw new Error('the top level must be a mapping')
      file = parsed
    } catch (e) {
      throw new LitellmConfigError(`config: ${g.litellmConfig} is not a valid LiteLLM config: ${(e as Error).message.split('\n')[0]}`)
    }
  }
  const fail = failIn(g.litellmConfig)
  const unsupported: string[] = []
  for (const k of Object.keys(file)) if (!TOP.has(k)) unsupported.push(k)
  // compat(litellm): environment_variables are exported before the rest of the file is read, so refs see them.
  let fileEnv: Record<string, string> = {}
  if (file.environment_variables != null) {
    if (!isObject(file.environment_variables)) fail('environment_variables', 'must be a mapping')
    fileEnv = Object.fromEntries(Object.entries(file.environment_variables).map(([k, v]) => [k, String(v)]))
  }
  const allEnv = { ...env, ...fileEnv }
  const general = pick(resolveEnv(file.general_settings, allEnv, 'general_settings', fail), GENERAL, 'general_settings', unsupported, fail)
  const router = pick(resolveEnv(file.router_settings, allEnv, 'router_settings', fail), ROUTER, 'router_settings', unsupported, fail)
  const litellm = pick(resolveEnv(file.litellm_settings, allEnv, 'litellm_settings', fail), LITELLM, 'litellm_settings', unsupported, fail)
  const list = [
    ...models(file.model_list, g.litellmConfig, allEnv, unsupported, fail),
    ...models(g.modelList, 'gateway.modelList', allEnv, unsupported, failIn('gateway.modelList')),
  ]
  const overrides = pick(resolveEnv(g.routerSettings, allEnv, 'gateway.routerSettings', failIn(source)), ROUTER, 'gateway.routerSettings', unsupported, failIn('gateway.routerSettings'))
  if (file.mcp_servers != null && !isObject(file.mcp_servers)) fail('mcp_servers', 'must be a mapping of server name to settings')
  const mcpServers = {
    ...(resolveEnv(file.mcp_servers ?? {}, allEnv, 'mcp_servers', fail) as Record<string, unknown>),
    ...(resolveEnv(g.mcpServers ?? {}, allEnv, 'gateway.mcpServers', failIn('gateway.mcpServers')) as Record<string, unknown>),
  }
  const masterKey = g.masterKey || ((general.master_key as string | undefined) ?? '')
  if (masterKey && !masterKey.startsWith('sk-')) fail('general_settings.master_key', 'must start with "sk-"')
  return {
    file: g.litellmConfig || null,
    modelList: list,
    routerSettings: { ...router, ...overrides },
    litellmSettings: litellm,
    masterKey,
    mcpServers,
    unsupported,
  }
}

/** A copy safe to print: api keys and the master key replaced by "***". */
export function redactLitellm(c: LitellmConfig): LitellmConfig {
  const hide = (v: unknown) => (v === undefined || v === '' ? v : '***')
  return {
    ...c,
    masterKey: hide(c.masterKey) as string,
    mcpServers: Object.fromEntries(Object.entries(c.mcpServers).map(([k, v]) => [k, isObject(v) ? { ...v, ...(v.auth_value !== undefined ? { auth_value: '***' } : {}), ...(v.env !== undefined ? { env: '***' } : {}), ...(v.static_headers !== undefined ? { static_headers: '***' } : {}) } : v])),
    // extra_headers often carry credentials (Authorization, api keys): their values are hidden too.
    modelList: c.modelList.map((m) => ({ ...m, litellm_params: { ...m.litellm_params, api_key: hide(m.litellm_params.api_key), ...(isObject(m.litellm_params.extra_headers) ? { extra_headers: Object.fromEntries(Object.keys(m.litellm_params.extra_headers).map((k) => [k, '***'])) } : {}) } })),
  }
}
