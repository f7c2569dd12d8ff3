/**
 * A fake OpenAI-compatible upstream for benchmarks, answering at once:
 * POST /v1/chat/completions as JSON, or as SSE when the body asks to stream
 * (model "slow": one chunk a second until the client leaves, for open-stream
 * memory). Run as its own process: node fake-llm.ts PORT
 */
import { createServer } from 'node:http'

const port = Number(process.argv[2] ?? 0)
const usage = { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16, prompt_tokens_details: { cached_tokens: 0 } }
const completion = JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', created: 1700000000, model: 'bench', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop', logprobs: null }], usage })
const chunk = (delta: object, finish: string | null = null) => `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'bench', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
const stream = chunk({ role: 'assistant', content: '' }) + chunk({ content: 'hello' }) + chunk({ content: ' world' }) + chunk({}, 'stop')
const usageChunk = `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'bench', choices: [], usage })}\n\n`

const server = createServer((req, res) => {
  const parts: Buffer[] = []
  req.on('data', (c: Buffer) => parts.push(c))
  req.on('end', () => {
    const body = Buffer.concat(parts).toString()
    if (!body.includes('"stream":true')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(completion) })
      return res.end(completion)
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    if (body.includes('"model":"slow"')) {
      res.write(chunk({ role: 'assistant', content: '' }))
      const t = setInterval(() => res.write(chunk({ content: '.' })), 1000)
      res.on('close', () => clearInterval(t))
      return
    }
    res.end(stream + (body.includes('"include_usage":true') ? usageChunk : '') + 'data: [DONE]\n\n')
  })
})
server.keepAliveTimeout = 65_000
server.listen(port, '127.0.0.1', () => console.log(`listening ${(server.address() as { port: number }).port}`))
