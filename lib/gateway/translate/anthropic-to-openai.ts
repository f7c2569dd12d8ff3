/**
 * An Anthropic Messages client (Claude Code, @anthropic-ai/sdk) on an
 * OpenAI-compatible upstream: the system prompt becomes a system message,
 * tool_use / tool_result blocks become tool_calls / tool messages, images
 * become image_url parts; answers and stream chunks come back as Anthropic
 * messages and events (message_start, content blocks, message_delta, message_stop).
 */
import { badRequest } from '../errors.ts'
import { sseFrame, type SseHandler } from '../calls/sse.ts'
import { fromOpenAIUsage, toAnthropicUsage, type Usage } from '../spend/usage.ts'
import type { StreamObserver, Translation } from './types.ts'

type Obj = Record<string, unknown>
type Block = Obj & { type: string }

const STOP: Record<string, string> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', function_call: 'tool_use', content_filter: 'refusal' }
const textOf = (c: unknown): string => (typeof c === 'string' ? c : Array.isArray(c) ? (c as Block[]).filter((b) => b.type === 'text').map((b) => String(b.text)).join('') : '')

function part(b: Block): Obj {
  if (b.type === 'text') return { type: 'text', text: String(b.text ?? '') }
  if (b.type === 'image') {
    const s = (b.source ?? {}) as Obj
    return { type: 'image_url', image_url: { url: s.type === 'base64' ? `data:${s.media_type};base64,${s.data}` : String(s.url ?? '') } }
  }
  throw badRequest(`content block type ${b.type} is not supported for this model`, 'messages')
}

function toMessages(system: unknown, msgs: Obj[]): Obj[] {
  const out: Obj[] = []
  const sys = textOf(system)
  if (sys) out.push({ role: 'system', content: sys })
  for (const m of msgs) {
    const role = String(m.role)
    if (role !== 'user' && role !== 'assistant') throw badRequest(`unknown message role ${role}`, 'messages')
    if (typeof m.content === 'string') {
      out.push({ role, content: m.content })
      continue
    }
    const content = (m.content ?? []) as Block[]
    if (role === 'assistant') {
      const calls = content.filter((b) => b.type === 'tool_use').map((b) => ({ id: String(b.id), type: 'function', function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) } }))
      const text = content.filter((b) => b.type === 'text').map((b) => String(b.text)).join('')
      out.push({ role, content: text || null, ...(calls.length ? { tool_calls: calls } : {}) })
      continue
    }
    // Tool results go first, as tool messages answering the previous assistant turn.
    for (const b of content.filter((x) => x.type === 'tool_result')) out.push({ role: 'tool', tool_call_id: String(b.tool_use_id), content: typeof b.content === 'string' ? b.content : textOf(b.content) })
    const rest = content.filter((b) => b.type !== 'tool_result')
    if (rest.length) out.push({ role: 'user', content: rest.every((b) => b.type === 'text') ? rest.map((b) => String(b.text)).join('') : rest.map(part) })
  }
  return out
}

function toolChoice(tc: unknown): unknown {
  const t = (tc ?? {}) as Obj
  if (t.type === 'auto') return 'auto'
  if (t.type === 'any') return 'required'
  if (t.type === 'none') return 'none'
  if (t.type === 'tool') return { type: 'function', function: { name: t.name } }
  return undefined
}

export function openaiToAnthropicMessage(json: Obj, model: string): Obj {
  const choice = ((json.choices ?? []) as Obj[])[0] ?? {}
  const msg = (choice.message ?? {}) as Obj
  const content: Block[] = []
  if (typeof msg.reasoning_content === 'string' && msg.reasoning_content) content.push({ type: 'thinking', thinking: msg.reasoning_content, signature: '' })
  if (typeof msg.content === 'string' && msg.content) content.push({ type: 'text', text: msg.content })
  for (const tc of (msg.tool_calls ?? []) as Obj[]) {
    const fn = (tc.function ?? {}) as Obj
    let input: unknown = {}
    try {
      input = JSON.parse(String(fn.arguments || '{}'))
    } catch {
      input = { raw: fn.arguments }
    }
    content.push({ type: 'tool_use', id: String(tc.id), name: String(fn.name), input })
  }
  const usage = fromOpenAIUsage(json.usage)
  return {
    id: `msg_${String(json.id ?? '').replace(/^chatcmpl-/, '')}`,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: STOP[String(choice.finish_reason)] ?? 'end_turn',
    stop_sequence: null,
    usage: toAnthropicUsage(usage ?? { prompt: 0, completion: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 }),
  }
}

export const anthropicToOpenAI: Translation = {
  rewrites: true,
  op: 'chat',
  request(body, stream) {
    const out: Obj = { model: body.model, messages: toMessages(body.system, (body.messages ?? []) as Obj[]) }
    if (body.max_tokens !== undefined) out.max_tokens = body.max_tokens
    for (const k of ['temperature', 'top_p'] as const) if (body[k] !== undefined) out[k] = body[k]
    if (Array.isArray(body.stop_sequences) && body.stop_sequences.length) out.stop = body.stop_sequences
    if (Array.isArray(body.tools) && body.tools.length)
      out.tools = (body.tools as Obj[]).map((t) => ({ type: 'function', function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.input_schema ?? { type: 'object', properties: {} } } }))
    const choice = toolChoice(body.tool_choice)
    if (choice !== undefined) out.tool_choice = choice
    const user = (body.metadata as Obj | undefined)?.user_id
    if (typeof user === 'string') out.user = user
    if (stream) Object.assign(out, { stream: true, stream_options: { include_usage: true } })
    return out
  },
  response: (json, model) => openaiToAnthropicMessage(json, model),
  usage: (json) => fromOpenAIUsage(json.usage),
  stream(o: StreamObserver, model: string): SseHandler {
    let started = false
    let index = -1
    let open: 'text' | 'tool' | 'thinking' | null = null
    let stop = 'end_turn'
    let usage: Usage | null = null
    const tools = new Map<number, number>()
    let stopped = false
    const ev = (type: string, data: Obj) => sseFrame(JSON.stringify({ type, ...data }), type)
    const handler: SseHandler = (e, emit) => {
      const close = () => {
        if (open) emit(ev('content_block_stop', { index }))
        open = null
      }
      const begin = (kind: 'text' | 'tool' | 'thinking', block: Obj) => {
        close()
        index++
        open = kind
        emit(ev('content_block_start', { index, content_block: block }))
      }
      if (e.data === '[DONE]') {
        if (!started || stopped) return
        stopped = true
        close()
        const u = toAnthropicUsage(usage ?? { prompt: 0, completion: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 })
        emit(ev('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: u }))
        emit(ev('message_stop', {}))
        return
      }
      let j: Obj
      try {
        j = JSON.parse(e.data) as Obj
      } catch {
        return
      }
      if (j.error) {
        const err = j.error as Obj
        emit(ev('error', { error: { type: 'api_error', message: String(err.message ?? 'upstream error') } }))
        return
      }
      if (!started) {
        started = true
        emit(ev('message_start', { message: { id: `msg_${String(j.id ?? '').replace(/^chatcmpl-/, '')}`, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } } }))
      }
      const u = fromOpenAIUsage(j.usage)
      if (u) o.usage((usage = u))
      const choice = ((j.choices ?? []) as Obj[])[0]
      if (!choice) return
      const delta = (choice.delta ?? {}) as Obj
      if (typeof delta.reasoning_content === 'string' && delta.reasoning_content) {
        if (open !== 'thinking') begin('thinking', { type: 'thinking', thinking: '', signature: '' })
        emit(ev('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: delta.reasoning_content } }))
      }
      if (typeof delta.content === 'string' && delta.content) {
        if (open !== 'text') begin('text', { type: 'text', text: '' })
        emit(ev('content_block_delta', { index, delta: { type: 'text_delta', text: delta.content } }))
      }
      for (const tc of (delta.tool_calls ?? []) as Obj[]) {
        const fn = (tc.function ?? {}) as Obj
        const n = Number(tc.index ?? 0)
        if (!tools.has(n) || tc.id) {
          begin('tool', { type: 'tool_use', id: String(tc.id ?? `toolu_${n}`), name: String(fn.name ?? ''), input: {} })
          tools.set(n, index)
        }
        if (typeof fn.arguments === 'string' && fn.arguments) emit(ev('content_block_delta', { index: tools.get(n), delta: { type: 'input_json_delta', partial_json: fn.arguments } }))
      }
      if (choice.finish_reason) stop = STOP[String(choice.finish_reason)] ?? 'end_turn'
    }
    // Some OpenAI-compatible servers end the stream without [DONE]: the message still ends properly.
    handler.finish = (emit) => handler({ data: '[DONE]', event: undefined, id: undefined }, emit)
    return handler
  },
}
