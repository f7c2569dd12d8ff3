/** Anthropic's Messages API (api.anthropic.com or a compatible server such as z.ai's /api/anthropic). */
import { fromAnthropicUsage } from '../spend/usage.ts'
import type { Op, Provider } from './types.ts'

const PATHS: Partial<Record<Op, string>> = { messages: '/v1/messages', count_tokens: '/v1/messages/count_tokens' }
export const ANTHROPIC_VERSION = '2023-06-01'

export const anthropicProvider: Provider = {
  names: ['anthropic'],
  chatFormat: 'anthropic',
  defaultBase: () => 'https://api.anthropic.com',
  ops: new Set(Object.keys(PATHS) as Op[]),
  request(t, op, b) {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'anthropic-version': ANTHROPIC_VERSION, ...t.headers }
    if (t.apiKey) headers['x-api-key'] = t.apiKey
    // compat(litellm): api_base is the host ("https://api.anthropic.com"); a trailing /v1 is tolerated.
    const base = t.apiBase.replace(/\/+$/, '').replace(/\/v1$/, '')
    return { url: base + PATHS[op], headers, body: Buffer.isBuffer(b) ? b : JSON.stringify(b) }
  },
  usage: (_op, json) => fromAnthropicUsage(json.usage),
}
