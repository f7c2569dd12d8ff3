/**
 * /v1/messages/count_tokens for a deployment whose upstream has no counting
 * endpoint (OpenAI-compatible servers): an estimate of about four characters
 * per token over every text the request carries (system, messages, tool
 * inputs and results, tool schemas). Anthropic upstreams are asked instead.
 */
type Obj = Record<string, unknown>

function chars(v: unknown): number {
  if (typeof v === 'string') return v.length
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + chars(x), 0)
  if (v && typeof v === 'object') {
    const o = v as Obj
    if (o.type === 'image' || o.type === 'document') return 1600 * 4 // Anthropic's rough per-image cost, in characters
    return Object.entries(o).reduce((n, [k, x]) => n + (k === 'type' || k === 'role' || k === 'id' || k === 'tool_use_id' || k === 'cache_control' ? 0 : chars(x)), 0)
  }
  return typeof v === 'number' || typeof v === 'boolean' ? String(v).length : 0
}

export function estimateInputTokens(body: Obj): number {
  return Math.max(1, Math.ceil((chars(body.system) + chars(body.messages) + chars(body.tools)) / 4))
}
