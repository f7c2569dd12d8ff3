/**
 * A fake Anthropic Messages API on loopback: /v1/messages (streaming and not,
 * with a tool_use answer when tools are offered and the prompt says "weather")
 * and /v1/messages/count_tokens. Records requests; follows a script of
 * behaviours like the fake OpenAI upstream ('ok', a status, 'hang', 'cut').
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Behaviour, Received } from './fake-openai.ts'

export type FakeAnthropic = { url: string; received: Received[]; script: Behaviour[]; usage: Record<string, number>; close: () => Promise<void> }

type Obj = Record<string, unknown>

const lastUserText = (body: Obj | null) => {
  const msgs = (body?.messages ?? []) as Array<{ role: string; content: unknown }>
  const m = [...msgs].reverse().find((x) => x.role === 'user')
  if (typeof m?.content === 'string') return m.content
  return ((m?.content ?? []) as Obj[]).filter((b) => b.type === 'text').map((b) => b.text).join('')
}

export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const fake = { received: [] as Received[], script: [] as Behaviour[], usage: { input_tokens: 100, output_tokens: 50, cache_read_input_tokens: 1000, cache_creation_input_tokens: 200 } as Record<string, number> }
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const raw = Buffer.concat(chunks)
    let body: Obj | null = null
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch {
      body = null
    }
    const rec: Received = { method: req.method!, path: req.url!, headers: req.headers, body, raw, closedEarly: false }
    fake.received.push(rec)
    res.on('close', () => {
      if (!res.writableFinished) rec.closedEarly = true
    })
    const b = fake.script.shift() ?? 'ok'
    if (b === 'hang') return
    if (typeof b === 'number') {
      res.writeHead(b, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ type: 'error', error: { type: b === 429 ? 'rate_limit_error' : b >= 500 ? 'api_error' : 'invalid_request_error', message: `anthropic says ${b}` } }))
    }
    if (req.url === '/v1/messages/count_tokens') {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ input_tokens: JSON.stringify(body?.messages ?? []).length }))
    }
    const model = String(body?.model)
    const text = `claude heard: ${lastUserText(body)}`
    const useTool = Array.isArray(body?.tools) && lastUserText(body).includes('weather')
    const tool = { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris', unit: 'c' } }
    if (body?.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const ev = (type: string, data: Obj) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`)
      ev('message_start', { message: { id: 'msg_fake', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...fake.usage, output_tokens: 1 } } })
      ev('ping', {})
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } })
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'claude heard: ' } })
      if (b === 'cut') return setTimeout(() => res.socket?.destroy(), 10)
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: lastUserText(body) } })
      ev('content_block_stop', { index: 0 })
      if (useTool) {
        ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: tool.id, name: tool.name, input: {} } })
        ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"city": "Pa' } })
        ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: 'ris", "unit": "c"}' } })
        ev('content_block_stop', { index: 1 })
      }
      ev('message_delta', { delta: { stop_reason: useTool ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: fake.usage.output_tokens } })
      ev('message_stop', {})
      return res.end()
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ id: 'msg_fake', type: 'message', role: 'assistant', model, content: [{ type: 'text', text }, ...(useTool ? [tool] : [])], stop_reason: useTool ? 'tool_use' : 'end_turn', stop_sequence: null, usage: fake.usage }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(fake, {
    url,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  })
}
