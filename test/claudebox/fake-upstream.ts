/**
 * A scripted Anthropic Messages upstream for Claude Code (streaming and not).
 * `reply` decides each answer from the request; the default: a prompt with
 * "WRITE <path> <text>" gets a Write tool_use, a tool result gets "done: …",
 * anything else "echo: <last user text>". Every request is recorded; `delayMs`
 * holds answers back (for cancel and busy tests).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

type Obj = Record<string, unknown>
export type Block = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Obj }
export type FakeClaudeUpstream = {
  url: string
  requests: Obj[]
  delayMs: number
  reply: (body: Obj) => Block[]
  usage: { input_tokens: number; output_tokens: number }
  /** Most /v1/messages requests answered at the same time so far. */
  maxInFlight: number
  close: () => Promise<void>
}

const textOf = (content: unknown): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.map((b: Obj) => (b.type === 'text' ? String(b.text) : b.type === 'tool_result' ? `[tool_result ${textOf(b.content)}]` : '')).join('') : ''

/** The text of the newest user message (tool results shown as [tool_result …]). */
export const lastUser = (body: Obj) => {
  const msgs = (body.messages ?? []) as Array<{ role: string; content: unknown }>
  const m = [...msgs].reverse().find((x) => x.role === 'user')
  return m ? textOf(m.content) : ''
}

/** Every user text of the conversation, oldest first (to see what a continued session carried). */
export const allUserText = (body: Obj) => ((body.messages ?? []) as Array<{ role: string; content: unknown }>).filter((m) => m.role === 'user').map((m) => textOf(m.content)).join('\n')

export function defaultReply(body: Obj): Block[] {
  const last = lastUser(body)
  if (last.includes('[tool_result')) return [{ type: 'text', text: `done: ${last.slice(0, 200)}` }]
  const w = /WRITE (\S+) (.+)$/m.exec(last)
  if (w && Array.isArray(body.tools)) return [{ type: 'text', text: 'writing' }, { type: 'tool_use', id: `toolu_${Date.now()}`, name: 'Write', input: { file_path: w[1], content: w[2] } }]
  return [{ type: 'text', text: `echo: ${last.replace(/<system-reminder>[\s\S]*?<\/system-reminder>/g, '').trim().slice(-300)}` }]
}

export async function startFakeClaudeUpstream(): Promise<FakeClaudeUpstream> {
  const fake = { requests: [] as Obj[], delayMs: 0, reply: defaultReply, usage: { input_tokens: 120, output_tokens: 30 }, maxInFlight: 0 }
  let inFlight = 0
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/messages')) {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end('{}')
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Obj
    if (req.url.startsWith('/v1/messages/count_tokens')) {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ input_tokens: 10 }))
    }
    fake.requests.push(body)
    fake.maxInFlight = Math.max(fake.maxInFlight, ++inFlight)
    res.on('close', () => inFlight--)
    if (fake.delayMs) await new Promise((r) => setTimeout(r, fake.delayMs))
    if (res.destroyed) return
    const blocks = fake.reply(body)
    const stop = blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn'
    const model = String(body.model)
    if (body.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ id: 'msg_fake', type: 'message', role: 'assistant', model, content: blocks, stop_reason: stop, stop_sequence: null, usage: fake.usage }))
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    const ev = (type: string, data: Obj) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`)
    ev('message_start', { message: { id: 'msg_fake', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: fake.usage.input_tokens, output_tokens: 1 } } })
    blocks.forEach((b, index) => {
      if (b.type === 'text') {
        ev('content_block_start', { index, content_block: { type: 'text', text: '' } })
        ev('content_block_delta', { index, delta: { type: 'text_delta', text: b.text } })
      } else {
        ev('content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } })
        ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input) } })
      }
      ev('content_block_stop', { index })
    })
    ev('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: fake.usage.output_tokens } })
    ev('message_stop', {})
    res.end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(fake, {
    url,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    }),
  })
}
