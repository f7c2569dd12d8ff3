/**
 * Upstream MCP servers from LiteLLM's `mcp_servers` (and gateway.mcpServers):
 * `url` + `transport` (http, sse) or `command`/`args`/`env` (stdio),
 * `auth_type` + `auth_value`, `static_headers`, `allowed_tools`,
 * `disallowed_tools`. A bad entry stops start, naming it.
 */
export type UpstreamSpec = {
  name: string
  description: string
  transport: 'http' | 'sse' | 'stdio'
  url: string | null
  command: string | null
  args: string[]
  env: Record<string, string>
  /** Headers sent upstream (auth_type/auth_value, static_headers). */
  headers: Record<string, string>
  allowedTools: string[] | null
  disallowedTools: string[]
  /** Longest wait for connecting and listing tools; a call waits this plus the tool's own time. */
  timeoutMs: number
}

/** Path prefixes of other surfaces: a server named like one would be shadowed at /{server}/mcp. */
const RESERVED = new Set(['mcp', 'v1', 'api', 'auth', 'ui', 'storage', 'claudebox', 'claudebox-zai', 'stealthy-auto-browse', 'anthropic', 'proxy', 'health', 'key', 'team', 'spend'])
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/
const KNOWN = new Set(['url', 'transport', 'command', 'args', 'env', 'auth_type', 'auth_value', 'static_headers', 'allowed_tools', 'disallowed_tools', 'description', 'timeout'])

const isObject = (v: unknown): v is Record<string, unknown> => v != null && typeof v === 'object' && !Array.isArray(v)
const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string')

/** compat(litellm): auth_type api_key → X-API-Key, bearer_token → Bearer, basic → Basic (user:pass is encoded), authorization → as given. */
function authHeaders(type: unknown, value: unknown, fail: (k: string, m: string) => never): Record<string, string> {
  if (type === undefined || type === null || type === 'none') return {}
  if (typeof value !== 'string' || !value) fail('auth_value', `is required with auth_type ${String(type)}`)
  switch (type) {
    case 'api_key':
      return { 'x-api-key': value }
    case 'bearer_token':
      return { authorization: `Bearer ${value}` }
    case 'basic':
      return { authorization: `Basic ${value.includes(':') ? Buffer.from(value).toString('base64') : value}` }
    case 'authorization':
      return { authorization: value }
    default:
      return fail('auth_type', 'must be one of none, api_key, bearer_token, basic, authorization')
  }
}

export function parseUpstreams(raw: Record<string, unknown>, builtins: string[], source: string): { specs: UpstreamSpec[]; unsupported: string[] } {
  const specs: UpstreamSpec[] = []
  const unsupported: string[] = []
  for (const [name, v] of Object.entries(raw)) {
    function fail(k: string, m: string): never {
      throw new Error(`config: ${source}: mcp_servers.${name}${k ? '.' + k : ''} ${m}`)
    }
    if (!NAME.test(name)) fail('', 'is not a valid server name (letters, digits, _ and -, at most 64)')
    if (RESERVED.has(name.toLowerCase()) || builtins.includes(name)) fail('', 'is a name nestbox uses itself; choose another')
    if (!isObject(v)) fail('', 'must be a mapping')
    for (const k of Object.keys(v)) if (!KNOWN.has(k)) unsupported.push(`mcp_servers.${name}.${k}`)
    const stdio = v.command !== undefined || v.transport === 'stdio'
    const transport = stdio ? 'stdio' : (v.transport ?? 'http')
    if (transport !== 'http' && transport !== 'sse' && transport !== 'stdio') fail('transport', 'must be http, sse or stdio')
    let url: string | null = null
    if (transport === 'stdio') {
      if (typeof v.command !== 'string' || !v.command) fail('command', 'is required for a stdio server')
      if (v.url !== undefined) fail('url', 'cannot be combined with command')
    } else {
      if (typeof v.url !== 'string') fail('url', 'is required for an http or sse server')
      try {
        const u = new URL(v.url as string)
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error()
        url = u.href
      } catch {
        fail('url', 'must be an http(s) URL')
      }
    }
    if (v.args !== undefined && !strings(v.args)) fail('args', 'must be a list of strings')
    if (v.env !== undefined && (!isObject(v.env) || !Object.values(v.env).every((x) => typeof x === 'string'))) fail('env', 'must be a mapping of strings')
    if (v.static_headers !== undefined && (!isObject(v.static_headers) || !Object.values(v.static_headers).every((x) => typeof x === 'string'))) fail('static_headers', 'must be a mapping of strings')
    for (const k of ['allowed_tools', 'disallowed_tools']) if (v[k] !== undefined && v[k] !== null && !strings(v[k])) fail(k, 'must be a list of tool names')
    if (v.timeout !== undefined && (typeof v.timeout !== 'number' || !(v.timeout > 0))) fail('timeout', 'must be a positive number of seconds')
    const headers = { ...((v.static_headers as Record<string, string>) ?? {}), ...authHeaders(v.auth_type, v.auth_value, fail) }
    specs.push({
      name,
      description: typeof v.description === 'string' ? v.description : '',
      transport,
      url,
      command: transport === 'stdio' ? (v.command as string) : null,
      args: (v.args as string[]) ?? [],
      env: (v.env as Record<string, string>) ?? {},
      headers,
      allowedTools: (v.allowed_tools as string[] | undefined) ?? null,
      disallowedTools: (v.disallowed_tools as string[] | undefined) ?? [],
      timeoutMs: typeof v.timeout === 'number' ? v.timeout * 1000 : 10_000,
    })
  }
  return { specs, unsupported }
}

/** Whether a server's allow/deny lists let a tool through. */
export const toolAllowed = (s: UpstreamSpec, tool: string) => (s.allowedTools === null || s.allowedTools.includes(tool)) && !s.disallowedTools.includes(tool)
