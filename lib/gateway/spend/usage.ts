/**
 * Token usage in one shape whatever the upstream reported. OpenAI counts cached
 * prompt tokens inside prompt_tokens; Anthropic reports input_tokens without the
 * cache reads and writes. Here `prompt` always includes both, so cost and spend
 * logs see the same numbers for either style.
 */
export type Usage = {
  /** Every prompt token: uncached + cache reads + cache writes. */
  prompt: number
  completion: number
  cacheRead: number
  cacheWrite: number
  /** Reasoning tokens, already counted in `completion`. */
  reasoning: number
}

export const noUsage = (): Usage => ({ prompt: 0, completion: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 })

const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0)
type Obj = Record<string, unknown>

/** OpenAI chat/completions/embeddings/responses usage (also DeepSeek's and LiteLLM-style cache fields). */
export function fromOpenAIUsage(u: unknown): Usage | null {
  if (!u || typeof u !== 'object') return null
  const x = u as Obj
  const pd = (x.prompt_tokens_details ?? x.input_tokens_details ?? {}) as Obj
  const cd = (x.completion_tokens_details ?? x.output_tokens_details ?? {}) as Obj
  const prompt = n(x.prompt_tokens ?? x.input_tokens)
  const completion = n(x.completion_tokens ?? x.output_tokens)
  return {
    prompt,
    completion,
    cacheRead: n(pd.cached_tokens ?? x.prompt_cache_hit_tokens ?? x.cache_read_input_tokens),
    cacheWrite: n(pd.cache_creation_tokens ?? x.cache_creation_input_tokens),
    reasoning: n(cd.reasoning_tokens),
  }
}

/** Anthropic messages usage: input_tokens exclude cache reads and writes. */
export function fromAnthropicUsage(u: unknown): Usage | null {
  if (!u || typeof u !== 'object') return null
  const x = u as Obj
  const cacheRead = n(x.cache_read_input_tokens)
  const cacheWrite = n(x.cache_creation_input_tokens)
  return { prompt: n(x.input_tokens) + cacheRead + cacheWrite, completion: n(x.output_tokens), cacheRead, cacheWrite, reasoning: 0 }
}

/** Later stream events refine earlier ones: a field reported again replaces the old value. */
export function mergeUsage(a: Usage | null, b: Usage | null): Usage | null {
  if (!a) return b
  if (!b) return a
  return {
    prompt: b.prompt || a.prompt,
    completion: b.completion || a.completion,
    cacheRead: b.cacheRead || a.cacheRead,
    cacheWrite: b.cacheWrite || a.cacheWrite,
    reasoning: b.reasoning || a.reasoning,
  }
}

/** OpenAI's wire usage object for a normalized usage. */
export const toOpenAIUsage = (u: Usage) => ({
  prompt_tokens: u.prompt,
  completion_tokens: u.completion,
  total_tokens: u.prompt + u.completion,
  prompt_tokens_details: { cached_tokens: u.cacheRead, ...(u.cacheWrite ? { cache_creation_tokens: u.cacheWrite } : {}) },
  completion_tokens_details: { reasoning_tokens: u.reasoning },
})

/** Anthropic's wire usage object for a normalized usage. */
export const toAnthropicUsage = (u: Usage) => ({
  input_tokens: Math.max(0, u.prompt - u.cacheRead - u.cacheWrite),
  output_tokens: u.completion,
  cache_read_input_tokens: u.cacheRead,
  cache_creation_input_tokens: u.cacheWrite,
})
