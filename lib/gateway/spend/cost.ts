/**
 * What a call cost: usage × the deployment's prices. Prices come from the
 * deployment's own *_cost_per_token (litellm_params, then model_info), else the
 * built-in table. Cached prompt tokens are billed at the cache-read price and
 * cache writes at the cache-write price (both fall back to the input price), the
 * rest of the prompt at the input price; reasoning tokens are completion tokens
 * unless a reasoning price is set.
 */
import { PRICES } from './prices.ts'
import type { Usage } from './usage.ts'

export type Prices = { input: number; output: number; cacheRead: number; cacheWrite: number; reasoning: number | null }

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined)

/** The table entry for an upstream model name: exact, without a date suffix, or the longest known prefix. */
function tableEntry(model: string) {
  const name = model.toLowerCase().replace(/^.*\//, '')
  if (PRICES[name]) return PRICES[name]
  const undated = name.replace(/-(\d{4}-\d{2}-\d{2}|\d{8}|latest|preview)$/, '')
  if (PRICES[undated]) return PRICES[undated]
  let best: string | undefined
  for (const k of Object.keys(PRICES)) if (name.startsWith(k + '-') && (!best || k.length > best.length)) best = k
  return best ? PRICES[best] : undefined
}

/** Prices for a deployment, or null when neither its config nor the table knows the model (cost 0, flagged in logs). */
export function pricesFor(model: string, params: Record<string, unknown>, info: Record<string, unknown>): Prices | null {
  const pick = (k: string) => num(params[k]) ?? num(info[k])
  const t = tableEntry(typeof info.base_model === 'string' ? info.base_model : model)
  const input = pick('input_cost_per_token') ?? (t ? t[0] / 1e6 : undefined)
  const output = pick('output_cost_per_token') ?? (t ? t[1] / 1e6 : undefined)
  if (input === undefined && output === undefined) return null
  const i = input ?? 0
  return {
    input: i,
    output: output ?? 0,
    cacheRead: pick('cache_read_input_token_cost') ?? (t?.[2] !== undefined ? t[2] / 1e6 : i),
    cacheWrite: pick('cache_creation_input_token_cost') ?? (t?.[3] !== undefined ? t[3] / 1e6 : i),
    reasoning: pick('output_cost_per_reasoning_token') ?? null,
  }
}

/** USD for `u` at `p`. */
export function costOf(u: Usage, p: Prices | null): number {
  if (!p) return 0
  const uncached = Math.max(0, u.prompt - u.cacheRead - u.cacheWrite)
  const reasoning = p.reasoning === null ? 0 : Math.min(u.reasoning, u.completion)
  return uncached * p.input + u.cacheRead * p.cacheRead + u.cacheWrite * p.cacheWrite + (u.completion - reasoning) * p.output + reasoning * (p.reasoning ?? 0)
}
