/**
 * Any OpenAI-compatible server: OpenAI, vLLM, Ollama's /v1, OpenRouter, Groq,
 * z.ai, Gemini's OpenAI endpoint... and Azure OpenAI, which only differs in its
 * URLs (deployments + api-version) and its api-key header.
 */
import { fromOpenAIUsage } from '../spend/usage.ts'
import type { Op, Provider, Target, UpstreamRequest } from './types.ts'

const PATHS: Partial<Record<Op, string>> = {
  chat: '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
  images: '/images/generations',
  speech: '/audio/speech',
  transcriptions: '/audio/transcriptions',
  responses: '/responses',
}

/** compat(litellm): providers LiteLLM reaches through an OpenAI-compatible endpoint, with their public base URLs. */
const BASES: Record<string, string> = {
  openai: 'https://api.openai.com/v1',
  text_completion_openai: 'https://api.openai.com/v1',
  hosted_vllm: '',
  openai_like: '',
  ollama_chat: 'http://localhost:11434/v1',
  openrouter: 'https://openrouter.ai/api/v1',
  groq: 'https://api.groq.com/openai/v1',
  deepseek: 'https://api.deepseek.com/v1',
  mistral: 'https://api.mistral.ai/v1',
  together_ai: 'https://api.together.xyz/v1',
  fireworks_ai: 'https://api.fireworks.ai/inference/v1',
  xai: 'https://api.x.ai/v1',
  zai: 'https://api.z.ai/api/paas/v4',
  gemini: 'https://generativelanguage.googleapis.com/v1beta/openai',
  perplexity: 'https://api.perplexity.ai',
  cerebras: 'https://api.cerebras.ai/v1',
  lm_studio: 'http://localhost:1234/v1',
}

const trim = (s: string) => s.replace(/\/+$/, '')

function body(b: Record<string, unknown> | Buffer, contentType: string): { body: string | Buffer; type: string } {
  return Buffer.isBuffer(b) ? { body: b, type: contentType } : { body: JSON.stringify(b), type: 'application/json' }
}

export const openaiProvider: Provider = {
  names: Object.keys(BASES),
  chatFormat: 'openai',
  defaultBase: (name) => BASES[name] ?? '',
  ops: new Set(Object.keys(PATHS) as Op[]),
  request(t: Target, op: Op, b, contentType): UpstreamRequest {
    const x = body(b, contentType)
    const headers: Record<string, string> = { 'content-type': x.type, ...t.headers }
    if (t.apiKey) headers.authorization = `Bearer ${t.apiKey}`
    return { url: trim(t.apiBase) + PATHS[op], headers, body: x.body }
  },
  usage: (_op, json) => fromOpenAIUsage(json.usage),
}

export const azureProvider: Provider = {
  names: ['azure'],
  chatFormat: 'openai',
  defaultBase: () => '',
  ops: new Set(['chat', 'completions', 'embeddings', 'images', 'speech', 'transcriptions'] as Op[]),
  request(t, op, b, contentType) {
    const x = body(b, contentType)
    const headers: Record<string, string> = { 'content-type': x.type, ...t.headers }
    if (t.apiKey) headers['api-key'] = t.apiKey
    const version = encodeURIComponent(t.apiVersion || '2024-10-21')
    return { url: `${trim(t.apiBase)}/openai/deployments/${encodeURIComponent(t.model)}${PATHS[op]}?api-version=${version}`, headers, body: x.body }
  },
  usage: (_op, json) => fromOpenAIUsage(json.usage),
}
