/**
 * An OpenAI chat client on an Anthropic upstream: system messages become the
 * system prompt, tool calls and tool results become tool_use / tool_result
 * blocks, images become image blocks; answers and stream events come back as
 * chat.completion(.chunk) objects, tool-call argument deltas included.
 */
import { badRequest } from '../errors.ts'
import { sseFrame, type SseHandler } from '../calls/sse.ts'
import { fromAnthropicUsage, mergeUsage, toOpenAIUsage, type Usage } from '../spend/usage.ts'
import type { StreamObserver, Translation } from './types.ts'

type Obj = Record<string, unknown>
type Block = Obj & { type: string }

const FINISH: Record<string, string> = { end_turn: 'stop', stop_sequence: 'stop', max_tokens: 'length', tool_use: 'tool_calls', pause_turn: 'stop', refusal: 'content_filter' }
const text = (v: unknown): string => (typeof v === 'string' ? v : Array.isArray(v) ? v.map((p) => (typeof p === 'string' ? p : ((p as Obj).text as string) ?? '')).join('') : '')

/** An OpenAI content part as an Anthropic block. */
function block(part: Obj): Block {
  if (part.type === 'text') return { type: 'text', text: String(part.text ?? '') }
  if (part.type === 'image_url') {
    const url = String((part.image_url as Obj | undefined)?.url ?? part.image_url ?? '')
    const m = /^data:([^;,]+);base64,(.*)$/s.exec(url)
    return m ? { type: 'image', source: { type: 'base64', media_type: m[1], data: m[2] } } : { type: 'image', source: { type: 'url', url } }
  }
  throw badRequest(`content part type ${String(part.type)} is not supported for this model`, 'messages')
}

const blocks = (content: unknown): Block[] => (typeof content === 'string' ? (content ? [{ type: 'text', text: content }] : []) : Array.isArray(content) ? (content as Obj[]).map(block) : [])

function toMessages(msgs: Obj[]): { system: Block[]; messages: Array<{ role: string; content: Block[] }> } {
  const system: Block[] = []
  const out: Array<{ role: string; content: Block[] }> = []
  const push = (role: string, content: Block[]) => {
    const last = out.at(-1)
    // Anthropic wants alternating roles: consecutive messages of one role (tool results, split user turns) merge.
    if (last && last.role === role) last.content.push(...content)
    else out.push({ role, content })
  }
  for (const m of msgs) {
    const role = String(m.role)
    if (role === 'system' || role === 'developer') system.push(...blocks(m.content))
    else if (role === 'tool') push('user', [{ type: 'tool_result', tool_use_id: String(m.tool_call_id ?? ''), content: typeof m.content === 'string' ? m.content : blocks(m.content) }])
    else if (role === 'assistant') {
      const content = blocks(m.content)
      for (const tc of (m.tool_calls ?? []) as Obj[]) {
        const fn = (tc.function ?? {}) as Obj
        let input: unknown = {}
        try {
          input = fn.arguments ? JSON.parse(String(fn.arguments)) : {}
        } catch {
          throw badRequest('tool_calls[].function.arguments must be JSON', 'messages')
        }
        content.push({ type: 'tool_use', id: String(tc.id), name: String(fn.name), input })
      }
      push('assistant', content)
    } else if (role === 'user') push('user', blocks(m.content))
    else throw badRequest(`unknown message role ${role}`, 'messages')
  }
  return { system, messages: out }
}

function toolChoice(tc: unknown): Obj | undefined {
  if (tc === undefined || tc === null) return undefined
  if (tc === 'auto') return { type: 'auto' }
  if (tc === 'required') return { type: 'any' }
  if (tc === 'none') return { type: 'none' }
  const name = ((tc as Obj).function as Obj | undefined)?.name
  return name ? { type: 'tool', name } : undefined
}

export function anthropicToOpenAIMessage(json: Obj, model: string): Obj {
  const content = (json.content ?? []) as Block[]
  const texts = content.filter((b) => b.type === 'text').map((b) => String(b.text))
  const thinking = content.filter((b) => b.type === 'thinking').map((b) => String(b.thinking))
  const tools = content.filter((b) => b.type === 'tool_use').map((b) => ({ id: String(b.id), type: 'function', function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) } }))
  const message: Obj = { role: 'assistant', content: texts.length ? texts.join('') : null }
  if (tools.length) message.tool_calls = tools
  if (thinking.length) message.reasoning_content = thinking.join('')
  const usage = fromAnthropicUsage(json.usage)
  return {
    id: String(json.id ?? ''),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: String(json.model ?? model),
    choices: [{ index: 0, message, finish_reason: FINISH[String(json.stop_reason)] ?? 'stop', logprobs: null }],
    ...(usage ? { usage: toOpenAIUsage(usage) } : {}),
  }
}

export const openaiToAnthropic: Translation = {
  rewrites: true,
  op: 'messages',
  request(body, stream) {
    if (typeof body.n === 'number' && body.n > 1) throw badRequest('n > 1 is not supported by Anthropic models', 'n')
    const { system, messages } = toMessages((body.messages ?? []) as Obj[])
    const out: Obj = { model: body.model, messages, max_tokens: body.max_tokens ?? body.max_completion_tokens ?? 4096 }
    if (system.length) out.system = system
    for (const k of ['temperature', 'top_p', 'top_k'] as const) if (body[k] !== undefined && body[k] !== null) out[k] = body[k]
    if (body.stop !== undefined && body.stop !== null) out.stop_sequences = Array.isArray(body.stop) ? body.stop : [body.stop]
    if (Array.isArray(body.tools) && body.tools.length)
      out.tools = (body.tools as Obj[]).map((t) => {
        const fn = (t.function ?? {}) as Obj
        return { name: fn.name, ...(fn.description ? { description: fn.description } : {}), input_schema: fn.parameters ?? { type: 'object', properties: {} } }
      })
    const choice = toolChoice(body.tool_choice)
    if (choice) out.tool_choice = choice
    if (typeof body.user === 'string') out.metadata = { user_id: body.user }
    if (body.thinking) out.thinking = body.thinking
    if (stream) out.stream = true
    return out
  },
  response: (json, model) => anthropicToOpenAIMessage(json, model),
  usage: (json) => fromAnthropicUsage(json.usage),
  stream(o: StreamObserver, model: string): SseHandler {
    let id = ''
    let upstreamModel = model
    let usage: Usage | null = null
    const toolIndex = new Map<number, number>()
    const created = Math.floor(Date.now() / 1000)
    const chunk = (delta: Obj, finish: string | null = null) => sseFrame(JSON.stringify({ id, object: 'chat.completion.chunk', created, model: upstreamModel, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] }))
    return (e, emit) => {
      let j: Obj
      try {
        j = JSON.parse(e.data) as Obj
      } catch {
        return
      }
      const type = e.event ?? (j.type as string)
      if (type === 'message_start') {
        const m = (j.message ?? {}) as Obj
        id = String(m.id ?? '')
        upstreamModel = String(m.model ?? model)
        usage = mergeUsage(usage, fromAnthropicUsage(m.usage))
        if (usage) o.usage(usage)
        emit(chunk({ role: 'assistant', content: '' }))
      } else if (type === 'content_block_start') {
        const b = (j.content_block ?? {}) as Block
        if (b.type === 'tool_use') {
          const i = toolIndex.size
          toolIndex.set(Number(j.index), i)
          emit(chunk({ tool_calls: [{ index: i, id: b.id, type: 'function', function: { name: b.name, arguments: '' } }] }))
        }
      } else if (type === 'content_block_delta') {
        const d = (j.delta ?? {}) as Obj
        if (d.type === 'text_delta') emit(chunk({ content: d.text }))
        else if (d.type === 'input_json_delta') emit(chunk({ tool_calls: [{ index: toolIndex.get(Number(j.index)) ?? 0, function: { arguments: d.partial_json } }] }))
        else if (d.type === 'thinking_delta') emit(chunk({ reasoning_content: d.thinking }))
      } else if (type === 'message_delta') {
        const u = fromAnthropicUsage(j.usage)
        if (u) usage = { ...(usage ?? u), completion: u.completion, ...(u.prompt ? { prompt: u.prompt, cacheRead: u.cacheRead, cacheWrite: u.cacheWrite } : {}) }
        if (usage) o.usage(usage)
        const stop = ((j.delta ?? {}) as Obj).stop_reason
        emit(chunk({}, FINISH[String(stop)] ?? 'stop'))
      } else if (type === 'message_stop') {
        if (o.clientWantsUsage && usage) emit(sseFrame(JSON.stringify({ id, object: 'chat.completion.chunk', created, model: upstreamModel, choices: [], usage: toOpenAIUsage(usage) })))
        emit('data: [DONE]\n\n')
      } else if (type === 'error') {
        const err = (j.error ?? {}) as Obj
        emit(sseFrame(JSON.stringify({ error: { message: String(err.message ?? 'upstream error'), type: String(err.type ?? 'api_error'), param: null, code: '500' } })))
      }
    }
  },
}
