/**
 * A fake OpenAI-compatible upstream on loopback: chat/completions (streaming
 * and not), completions, embeddings, images, audio. It records what it receives
 * and follows a script of behaviours per request: 'ok', an HTTP status to fail
 * with, 'hang' (never answer), 'cut' (stream two chunks, then drop the
 * connection), 'slow' (stream a chunk every 20 ms until the client leaves) or
 * 'context' (OpenAI's 400 for a prompt longer than the context window) or
 * 'nodone' (a stream that ends without its [DONE] line, as some servers do).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export type Behaviour = 'ok' | 'hang' | 'cut' | 'slow' | 'context' | 'nodone' | number
export type Received = { method: string; path: string; headers: IncomingMessage['headers']; body: Record<string, unknown> | null; raw: Buffer; closedEarly: boolean }

export type FakeOpenAI = {
  url: string
  /** Base URL as LiteLLM's api_base expects it (".../v1"). */
  base: string
  received: Received[]
  /** Behaviours for the next requests, in order; 'ok' once it runs out. */
  script: Behaviour[]
  /** Usage every answer reports. */
  usage: Record<string, unknown>
  close: () => Promise<void>
}

const lastUser = (body: Record<string, unknown> | null) => {
  const msgs = (body?.messages ?? []) as Array<{ role: string; content: unknown }>
  const m = [...msgs].reverse().find((x) => x.role === 'user')
  return typeof m?.content === 'string' ? m.content : JSON.stringify(m?.content ?? '')
}

const wantsTool = (body: Record<string, unknown> | null) => Array.isArray(body?.tools) && lastUser(body).includes('weather')

export async function startFakeOpenAI(o: { name?: string } = {}): Promise<FakeOpenAI> {
  const fake = { received: [] as Received[], script: [] as Behaviour[], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 4 } } as Record<string, unknown> }
  const name = o.name ?? 'fake'
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const raw = Buffer.concat(chunks)
    let body: Record<string, unknown> | null = null
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
    if (b === 'context') {
      res.writeHead(400, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ error: { message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } }))
    }
    if (typeof b === 'number') {
      res.writeHead(b, { 'content-type': 'application/json', ...(b === 429 ? { 'retry-after': '0' } : {}) })
      return res.end(JSON.stringify({ error: { message: `${name} says ${b}`, type: b === 429 ? 'rate_limit_error' : b >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: null } }))
    }
    const path = req.url!.split('?')[0]
    const model = (body?.model as string) ?? 'unknown'
    const created = 1700000000
    if (path.endsWith('/chat/completions') && body?.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      const withUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true
      const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
        `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...(withUsage ? { usage: null } : {}) })}\n\n`
      if (b === 'slow') {
        res.write(chunk({ role: 'assistant', content: '' }))
        const t = setInterval(() => res.write(chunk({ content: 'tick ' })), 20)
        res.on('close', () => clearInterval(t))
        return
      }
      res.write(chunk({ role: 'assistant', content: '' }))
      if (wantsTool(body)) {
        res.write(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }))
        res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city": "Pa' } }] }))
        res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: 'ris"}' } }] }))
        res.write(chunk({}, 'tool_calls'))
        if (withUsage) res.write(`data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created, model, choices: [], usage: fake.usage })}\n\n`)
        return res.end('data: [DONE]\n\n')
      }
      res.write(chunk({ content: `${name}: ` }))
      if (b === 'cut') return setTimeout(() => res.socket?.destroy(), 10)
      res.write(chunk({ content: lastUser(body) }))
      res.write(chunk({}, 'stop'))
      if (withUsage) res.write(`data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created, model, choices: [], usage: fake.usage })}\n\n`)
      return res.end(b === 'nodone' ? '' : 'data: [DONE]\n\n')
    }
    const json = (v: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-ratelimit-remaining-requests': '4999', 'x-request-id': 'req_upstream_1' })
      res.end(JSON.stringify(v))
    }
    if (path.endsWith('/chat/completions') && wantsTool(body))
      return json({ id: 'chatcmpl-fake', object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }, finish_reason: 'tool_calls', logprobs: null }], usage: fake.usage })
    if (path.endsWith('/chat/completions'))
      return json({ id: 'chatcmpl-fake', object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content: `${name}: ${lastUser(body)}` }, finish_reason: 'stop', logprobs: null }], usage: fake.usage })
    if (path.endsWith('/completions')) return json({ id: 'cmpl-fake', object: 'text_completion', created, model, choices: [{ index: 0, text: `${name}: ${body?.prompt}`, finish_reason: 'stop', logprobs: null }], usage: fake.usage })
    if (path.endsWith('/embeddings')) {
      const v = [0.5, 0.25, 0.125]
      const embedding = body?.encoding_format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v
      return json({ object: 'list', model, data: [{ object: 'embedding', index: 0, embedding }], usage: { prompt_tokens: 3, total_tokens: 3 } })
    }
    if (path.endsWith('/images/generations')) return json({ created, data: [{ url: 'https://example.invalid/image.png' }] })
    if (path.endsWith('/audio/transcriptions')) return json({ text: `${name} heard ${raw.length} bytes` })
    if (path.endsWith('/audio/speech')) {
      res.writeHead(200, { 'content-type': 'audio/mpeg' })
      return res.end(Buffer.from([0xff, 0xfb, 0x90, 0x00, 1, 2, 3]))
    }
    if (path.endsWith('/responses')) return json({ id: 'resp-fake', object: 'response', created_at: created, model, status: 'completed', output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: `${name}: ok` }] }], usage: { input_tokens: 7, output_tokens: 2, total_tokens: 9 } })
    res.writeHead(404, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ error: { message: `no route ${path}`, type: 'invalid_request_error' } }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(fake, {
    url,
    base: `${url}/v1`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  })
}
