/**
 * The model list as routable deployments: groups by model_name, wildcard groups
 * ("*", "openai/*", "anthropic/claude-*") and router_settings.model_group_alias.
 * Built once at start from the configuration; a bad entry stops start, naming it.
 */
import { createHash } from 'node:crypto'
import { ConfigError } from '../../core/config/index.ts'
import type { LitellmConfig, LitellmModel } from '../../core/config/litellm.ts'
import { providerNamed, providerNames, splitModel } from '../providers/index.ts'
import type { Provider, Target } from '../providers/types.ts'

export type Deployment = Target & {
  /** model_info.id, or a hash of the entry (LiteLLM's x-litellm-model-id). */
  id: string
  /** The model_name clients ask for (the model group). */
  group: string
  providerName: string
  provider: Provider
  rpm: number | null
  tpm: number | null
  weight: number | null
  maxParallel: number | null
  timeoutMs: number
  streamTimeoutMs: number
  maxRetries: number | null
  info: Record<string, unknown>
  params: Record<string, unknown>
}

type Wildcard = { re: RegExp; entry: LitellmModel; index: number }

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)
const globToRe = (glob: string) => new RegExp('^' + glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('(.*)') + '$')

export function createModelRegistry(cfg: LitellmConfig) {
  const router = cfg.routerSettings
  const defaultTimeout = num(router.timeout) ?? num(cfg.litellmSettings.request_timeout) ?? 600
  const defaultStreamTimeout = num(router.stream_timeout)

  /** A deployment for `entry`; `star` fills a wildcard's "*" in litellm_params.model. */
  const build = (entry: LitellmModel, group: string, star?: string): Deployment => {
    const p = entry.litellm_params
    const full = star === undefined ? p.model : p.model.replace('*', star)
    const { provider: providerName, model } = splitModel(full)
    const provider = providerNamed(providerName)
    if (!provider) throw new ConfigError(`config: ${entry.origin}.litellm_params.model: provider "${providerName}" is not supported (supported: ${providerNames().join(', ')})`)
    const apiBase = ((p.api_base ?? p.base_url) as string | undefined) || provider.defaultBase(providerName)
    if (!apiBase) throw new ConfigError(`config: ${entry.origin}.litellm_params.api_base is required for ${providerName}/ models`)
    if (!/^https?:\/\/[^/\s]+/.test(apiBase)) throw new ConfigError(`config: ${entry.origin}.litellm_params.api_base must be an http(s) URL`)
    const timeout = num(p.timeout) ?? defaultTimeout
    const id = typeof entry.model_info.id === 'string' ? entry.model_info.id : createHash('sha256').update(`${group}\0${JSON.stringify(p)}`).digest('hex').slice(0, 32)
    const headers = Object.fromEntries(Object.entries((p.extra_headers ?? {}) as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), String(v)]))
    if (typeof p.organization === 'string') headers['openai-organization'] = p.organization
    return {
      id,
      group,
      providerName,
      provider,
      model,
      apiBase,
      apiKey: (p.api_key as string | undefined) ?? '',
      apiVersion: (p.api_version as string | undefined) ?? '',
      headers,
      rpm: num(p.rpm),
      tpm: num(p.tpm),
      weight: num(p.weight),
      maxParallel: num(p.max_parallel_requests),
      timeoutMs: timeout * 1000,
      streamTimeoutMs: (num(p.stream_timeout) ?? defaultStreamTimeout ?? timeout) * 1000,
      maxRetries: num(p.max_retries),
      info: entry.model_info,
      params: p,
    }
  }

  const groups = new Map<string, Deployment[]>()
  const wildcards: Wildcard[] = []
  cfg.modelList.forEach((entry, index) => {
    if (entry.model_name.includes('*')) {
      // Checked now with a sample name, so a bad provider fails at start, not at the first request.
      build(entry, entry.model_name, 'x')
      wildcards.push({ re: globToRe(entry.model_name), entry, index })
      return
    }
    const list = groups.get(entry.model_name) ?? []
    list.push(build(entry, entry.model_name))
    groups.set(entry.model_name, list)
  })
  // compat(litellm): the most specific pattern wins ("openai/gpt-*" before "openai/*" before "*").
  wildcards.sort((a, b) => b.entry.model_name.replace(/\*/g, '').length - a.entry.model_name.replace(/\*/g, '').length || a.index - b.index)
  const aliases = (router.model_group_alias ?? {}) as Record<string, unknown>
  const wildcardCache = new Map<string, Deployment[]>()

  /** The deployments serving `name` (exact group, alias, then wildcard), or null. */
  function resolve(name: string): Deployment[] | null {
    const exact = groups.get(name)
    if (exact) return exact
    const alias = aliases[name]
    const target = typeof alias === 'string' ? alias : typeof (alias as { model?: unknown })?.model === 'string' ? (alias as { model: string }).model : undefined
    if (target && groups.has(target)) return groups.get(target)!
    const cached = wildcardCache.get(name)
    if (cached) return cached
    const matching = wildcards.filter((w) => w.re.test(name))
    if (!matching.length) return null
    const best = matching.filter((w) => w.entry.model_name === matching[0].entry.model_name)
    const list = best.map((w) => build(w.entry, name, w.re.exec(name)![1] ?? ''))
    if (wildcardCache.size > 10_000) wildcardCache.clear()
    wildcardCache.set(name, list)
    return list
  }

  return {
    resolve,
    /** Model group names clients may ask for (wildcard patterns included as written). */
    groupNames: () => [...groups.keys(), ...wildcards.map((w) => w.entry.model_name)],
    /** Every configured deployment (wildcard entries with their pattern as model). */
    deployments: (): Deployment[] => [...[...groups.values()].flat(), ...wildcards.map((w) => build(w.entry, w.entry.model_name, '*'))],
    /** Whether `name` matches a wildcard pattern `pattern` ("openai/*" covers "openai/gpt-4o"). */
    matches: (pattern: string, name: string) => pattern === name || (pattern.includes('*') && globToRe(pattern).test(name)),
  }
}
export type ModelRegistry = ReturnType<typeof createModelRegistry>
