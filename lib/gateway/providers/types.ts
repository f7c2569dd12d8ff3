/**
 * A provider adapter turns one gateway operation on one deployment into the
 * upstream's HTTP request, in the provider's native wire format. Adding a
 * provider means one file implementing this and one line in the registry.
 */
import type { Usage } from '../spend/usage.ts'

/** Gateway operations. 'chat' and 'messages' are the two chat formats (OpenAI, Anthropic). */
export type Op = 'chat' | 'completions' | 'embeddings' | 'images' | 'speech' | 'transcriptions' | 'responses' | 'messages' | 'count_tokens'

/** The chat wire format a provider speaks natively. */
export type ChatFormat = 'openai' | 'anthropic'

export type UpstreamRequest = { url: string; headers: Record<string, string>; body: string | Buffer }

/** What an adapter needs of a deployment. */
export type Target = {
  /** Upstream model name (provider prefix removed). */
  model: string
  apiBase: string
  apiKey: string
  apiVersion: string
  headers: Record<string, string>
}

export interface Provider {
  /** LiteLLM's provider prefixes this adapter serves ("openai", "hosted_vllm", ...). */
  readonly names: readonly string[]
  readonly chatFormat: ChatFormat
  /** The api_base used when a deployment gives none ('' = a deployment must give one). */
  defaultBase(name: string): string
  /** Operations the upstream serves natively (chat in the other format is translated). */
  readonly ops: ReadonlySet<Op>
  /** The upstream request for `op`. JSON bodies arrive parsed with `model` already set to the upstream's name. */
  request(t: Target, op: Op, body: Record<string, unknown> | Buffer, contentType: string): UpstreamRequest
  /** Usage in a complete (non-streaming) JSON answer of `op`. */
  usage(op: Op, json: Record<string, unknown>): Usage | null
}
