/**
 * compat(claudebox 000): the OpenAI-compatible adapter at {surface}/openai/v1:
 * models (the aliases) and chat/completions, streaming and not. A system
 * message becomes the system prompt; a conversation of several turns is
 * written into the workspace and Claude is told to read it; each call starts a
 * fresh session unless X-Claude-Continue. Errors use OpenAI's envelope.
 */
import { Hono, type Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { randomBytes } from 'node:crypto'
import { AppError, invalid } from '../core/errors.ts'
import type { AppEnv } from '../http/types.ts'
import { conversationFiles, hasImages, textOf, type Message } from './conversation.ts'
import { EFFORTS, parseWorkspace, type RunRequest } from './input.ts'
import { bearerOf, onClientGone, runAnswer } from './routes.claudebox.ts'
import type { Caller, Claudebox } from './service.ts'


/** "claudebox-sonnet", "claudebox/sonnet", "anthropic/sonnet" → "sonnet". */
const modelOf = (m: unknown): string | null => {
  if (typeof m !== 'string' || !m) return null
  const bare = m.includes('/') ? m.slice(m.lastIndexOf('/') + 1) : m
  return bare.replace(/^claudebox-/, '') || null
}

/** OpenAI's error envelope for the adapter's errors. */
export const openaiError = (c: Context<AppEnv>, e: AppError) =>
  c.json({ error: { message: e.message, type: e.status === 401 ? 'authentication_error' : e.status >= 500 ? 'server_error' : 'invalid_request_error', code: e.code } }, e.status as 400)

export function claudeboxOpenAIRoutes(cb: Claudebox) {
  const r = new Hono<AppEnv>()
  // opusplan: the CLI's own alias (opus while planning, sonnet otherwise), through the same mapping
  const aliases = () => [...Object.keys(cb.models), ...(cb.models.opus && cb.models.sonnet ? ['opusplan'] : [])]

  r.get('/models', async (c) => {
    await cb.authenticate(bearerOf(c))
    return c.json({ object: 'list', data: aliases().map((id) => ({ id, object: 'model', created: 0, owned_by: cb.name })) })
  })

  r.post('/chat/completions', async (c) => {
    const who = await cb.authenticate(bearerOf(c))
    const body = (await c.req.json().catch(() => Promise.reject(invalid('request body is not valid JSON', 'invalid_json')))) as Record<string, unknown>
    return chatCompletions(c, cb, who, body)
  })
  return r
}

/**
 * One chat completion through Claude Code in the caller's workspace (also the
 * gateway's claudebox-* models). X-Claude-* settings come from the request's
 * headers or, as LiteLLM clients send them, from the body's extra_headers.
 */
export async function chatCompletions(c: Context<AppEnv>, cb: Claudebox, who: Caller, body: Record<string, unknown>): Promise<Response> {
  const extra = body.extra_headers && typeof body.extra_headers === 'object' ? Object.fromEntries(Object.entries(body.extra_headers as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), String(v)])) : {}
  const header = (name: string) => c.req.header(name) ?? extra[name]
  if (!Array.isArray(body.messages) || !body.messages.length) throw invalid('messages must be a non-empty array')
  const msgs = body.messages as Message[]
  const system = msgs.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => textOf(m.content)).join('\n\n')
  const turns = msgs.filter((m) => m.role !== 'system' && m.role !== 'developer')
  const last = turns.at(-1)
  if (!last || last.role !== 'user' || !textOf(last.content).trim()) throw invalid('the last message must be a user message with text')
  const workspace = parseWorkspace(header('x-claude-workspace'))
  const cont = /^(1|true|yes)$/i.test(header('x-claude-continue') ?? '')
  const effort = typeof body.reasoning_effort === 'string' && (EFFORTS as readonly string[]).includes(body.reasoning_effort) ? body.reasoning_effort : null
  let prompt = textOf(last.content)
  if (turns.length > 1 || hasImages(turns)) {
    const base = `.claudebox/conversation-${randomBytes(6).toString('hex')}`
    const files = conversationFiles(turns, base)
    for (const img of files.images) await cb.writeBytes(who, workspace, img.path, img.bytes)
    await cb.writeBytes(who, workspace, `${base}.md`, Buffer.from(files.markdown, 'utf8'))
    prompt = `The conversation so far is in ${base}.md (read it first${files.images.length ? ', and the images it names' : ''}). Answer its last user message:\n\n${prompt}`
  }
  const req: RunRequest = {
    prompt,
    workspace,
    model: modelOf(body.model),
    systemPrompt: system || null,
    appendSystemPrompt: header('x-claude-append-system-prompt') || null,
    jsonSchema: null,
    effort,
    outputFormat: 'json',
    noContinue: !cont,
    resume: null,
    fireAndForget: false,
    async: false,
    stream: body.stream === true,
  }
  const id = `chatcmpl-${randomBytes(12).toString('hex')}`
  const created = Math.floor(Date.now() / 1000)
  const model = typeof body.model === 'string' ? body.model : (req.model ?? 'claudebox')
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })

  if (req.stream) {
    let send: (text: string) => void = () => {}
    const run = cb.run(who, req, { fresh: !cont, onTurn: (t) => t.role === 'assistant' && t.content.forEach((b) => b.type === 'text' && b.text && send(b.text)) })
    return streamSSE(c, async (s) => {
      s.onAbort(() => void run.cancel())
      await s.writeSSE({ data: JSON.stringify(chunk({ role: 'assistant', content: '' }, null)) })
      send = (text) => void s.writeSSE({ data: JSON.stringify(chunk({ content: text }, null)) })
      await run.done
      if (run.status !== 'completed') await s.writeSSE({ data: JSON.stringify({ error: { message: run.error ?? 'run cancelled', type: 'server_error' } }) })
      else await s.writeSSE({ data: JSON.stringify(chunk({}, 'stop')) })
      await s.writeSSE({ data: '[DONE]' })
    })
  }
  const run = cb.run(who, req, { fresh: !cont })
  onClientGone(c, () => void run.cancel())
  await run.done
  const a = runAnswer(run)
  if (a.status !== 200) throw new AppError(500, 'run_failed', String(a.body.error))
  const u = (a.body.usage ?? {}) as Record<string, number>
  const prompt_tokens = (u.inputTokens ?? 0) + (u.cacheReadInputTokens ?? 0) + (u.cacheCreationInputTokens ?? 0)
  return c.json({
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: String(a.body.result ?? '') }, finish_reason: 'stop' }],
    usage: { prompt_tokens, completion_tokens: u.outputTokens ?? 0, total_tokens: prompt_tokens + (u.outputTokens ?? 0) },
  })
}
