/**
 * Client and upstream speak the same format: bodies pass unchanged except the
 * model, and streamed events are copied through while their usage is read.
 */
import { sseFrame, type SseHandler } from '../calls/sse.ts'
import { fromAnthropicUsage, fromOpenAIUsage, mergeUsage, type Usage } from '../spend/usage.ts'
import type { Translation } from './types.ts'

const USAGE_RE = /"usage"\s*:\s*\{/

/** OpenAI chat/completions. We always ask the upstream for usage; the client gets the usage chunk only if it asked. */
export const openaiPassthrough: Translation = {
  rewrites: false,
  op: 'chat',
  request(body, stream) {
    if (!stream) return body
    const so = (body.stream_options ?? {}) as Record<string, unknown>
    return { ...body, stream_options: { ...so, include_usage: true } }
  },
  response: () => null,
  usage: (json) => fromOpenAIUsage(json.usage),
  stream(o, _model): SseHandler {
    return (e, emit) => {
      const data = e.data
      if (USAGE_RE.test(data)) {
        try {
          const j = JSON.parse(data) as Record<string, unknown>
          const u = fromOpenAIUsage(j.usage)
          if (u) o.usage(u)
          if (!o.clientWantsUsage && Array.isArray(j.choices) && j.choices.length === 0) return
        } catch {
          // not JSON: relay as is
        }
      }
      emit(sseFrame(data, e.event))
    }
  },
}

/** Anthropic messages: usage arrives in message_start and grows in message_delta. */
export const anthropicPassthrough: Translation = {
  rewrites: false,
  op: 'messages',
  request: (body) => body,
  response: () => null,
  usage: (json) => fromAnthropicUsage(json.usage),
  stream(o): SseHandler {
    let usage: Usage | null = null
    return (e, emit) => {
      if (e.event === 'message_start' || e.event === 'message_delta') {
        try {
          const j = JSON.parse(e.data) as { message?: { usage?: unknown }; usage?: unknown }
          const u = fromAnthropicUsage(e.event === 'message_start' ? j.message?.usage : j.usage)
          if (u) {
            // message_delta carries output_tokens (and sometimes the input counts again): merge, do not add.
            usage = mergeUsage(usage, e.event === 'message_delta' && !u.prompt ? { ...u, prompt: usage?.prompt ?? 0, cacheRead: usage?.cacheRead ?? 0, cacheWrite: usage?.cacheWrite ?? 0 } : u)
            o.usage(usage!)
          }
        } catch {
          // relay as is
        }
      }
      emit(sseFrame(e.data, e.event))
    }
  },
}
