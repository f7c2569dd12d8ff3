/** The other OpenAI endpoints (completions, images, audio, responses), /health, and the /anthropic pass-through. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI, { toFile } from 'openai'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startFakeAnthropic, type FakeAnthropic } from './fake-anthropic.ts'
import { startFakeOpenAI, type FakeOpenAI } from './fake-openai.ts'

let nb: TestNestbox
let up: FakeOpenAI
let ant: FakeAnthropic
let client: OpenAI
const MASTER = 'sk-endpoints-test-master'

test.before(async () => {
  up = await startFakeOpenAI({ name: 'up' })
  ant = await startFakeAnthropic()
  const at = (group: string, model: string, info: Record<string, unknown> = {}) => ({ model_name: group, litellm_params: { model: `openai/${model}`, api_base: up.base, api_key: 'sk-up' }, model_info: info })
  const modelList = [
    at('gpt', 'gpt-4o-mini'),
    at('embed', 'text-embedding-3-small', { mode: 'embedding' }),
    at('img', 'dall-e-3'),
    at('tts', 'tts-1'),
    at('whisper', 'whisper-1'),
    { model_name: 'claude', litellm_params: { model: 'anthropic/claude-3-5-haiku-20241022', api_base: ant.url, api_key: 'sk-ant-real' } },
  ]
  nb = await startTestNestbox({ set: { 'gateway.masterKey': MASTER, 'gateway.modelList': JSON.stringify(modelList) } })
  client = new OpenAI({ apiKey: MASTER, baseURL: `${nb.url}/v1`, maxRetries: 0 })
})

test.after(async () => {
  await nb?.close()
  await up?.close()
  await ant?.close()
})

test('completions, images, responses', async () => {
  const c = await client.completions.create({ model: 'gpt', prompt: 'say' })
  assert.is(c.choices[0].text, 'up: say')
  const i = await client.images.generate({ model: 'img', prompt: 'a cat' })
  assert.is(i.data?.[0].url, 'https://example.invalid/image.png')
  assert.is(up.received.at(-1)!.body?.model, 'dall-e-3')
  const r = await client.responses.create({ model: 'gpt', input: 'hello' })
  assert.is(r.output_text, 'up: ok')
  assert.is(up.received.at(-1)!.path, '/v1/responses')
})

test('audio: speech answers binary; transcriptions re-encode the multipart form with the upstream model', async () => {
  const speech = await client.audio.speech.create({ model: 'tts', voice: 'alloy', input: 'hi' })
  assert.is(speech.headers.get('content-type'), 'audio/mpeg')
  assert.equal([...new Uint8Array(await speech.arrayBuffer())], [0xff, 0xfb, 0x90, 0x00, 1, 2, 3])
  const audio = Buffer.alloc(5000, 7)
  const t = await client.audio.transcriptions.create({ model: 'whisper', file: await toFile(audio, 'a.wav', { type: 'audio/wav' }) })
  assert.match(t.text, /^up heard \d+ bytes$/)
  const got = up.received.at(-1)!
  assert.match(String(got.headers['content-type']), /^multipart\/form-data; boundary=/)
  const raw = got.raw.toString('latin1')
  assert.ok(raw.includes('whisper-1') && !raw.includes('name="model"\r\n\r\nwhisper\r\n'), 'model replaced')
  assert.ok(got.raw.includes(audio), 'file bytes forwarded')
})

test('/health makes one real call per deployment and reports failures; readiness needs no key', async () => {
  assert.is((await fetch(`${nb.url}/health`)).status, 401)
  const n = up.received.length
  up.script.push(500)
  const h = await (await fetch(`${nb.url}/health`, { headers: { authorization: `Bearer ${MASTER}` } })).json()
  assert.is(h.healthy_count + h.unhealthy_count, 6)
  assert.is(h.unhealthy_count, 1)
  assert.ok(up.received.length - n >= 5)
  assert.not.ok(JSON.stringify(h).includes('sk-up') || JSON.stringify(h).includes('sk-ant-real'), 'no secrets')
  assert.ok(up.received.slice(n).some((r) => r.path === '/v1/embeddings'), 'embedding models are probed with an embedding')
  const ready = await (await fetch(`${nb.url}/health/readiness`)).json()
  assert.is(ready.status, 'healthy')
  assert.is(ready.db, 'connected')
})

test('/anthropic/* forwards as-is with the real key and anthropic-version; streams flow through; spend is logged', async () => {
  const n = ant.received.length
  const claude = new Anthropic({ apiKey: MASTER, baseURL: `${nb.url}/anthropic`, maxRetries: 0 })
  const m = await claude.messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 5, messages: [{ role: 'user', content: 'pass' }] })
  assert.is((m.content[0] as Anthropic.TextBlock).text, 'claude heard: pass')
  assert.is(ant.received[n].headers['x-api-key'], 'sk-ant-real')
  assert.is(ant.received[n].body?.model, 'claude-3-5-haiku-20241022', 'model left as sent')
  const raw = await fetch(`${nb.url}/proxy/anthropic/v1/messages`, { method: 'POST', headers: { 'x-api-key': MASTER, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'sse' }] }) })
  assert.is(raw.headers.get('content-type'), 'text/event-stream')
  const text = await raw.text()
  assert.ok(text.includes('event: message_stop'))
  assert.is(ant.received.at(-1)!.headers['anthropic-version'], '2023-06-01', 'added when missing')
  await nb.services.gateway.flushSpend()
  const logs = await (await fetch(`${nb.url}/spend/logs?model=claude-3-5-haiku-20241022`, { headers: { authorization: `Bearer ${MASTER}` } })).json()
  assert.is(logs.length, 2)
  // usage: 100 in, 1000 cache read, 200 cache write, 50 out at haiku 3.5 prices
  const want = 100 * 0.8e-6 + 1000 * 0.08e-6 + 200 * 1e-6 + 50 * 4e-6
  assert.ok(logs.every((l: { spend: number }) => Math.abs(l.spend - want) < 1e-12), JSON.stringify(logs.map((l: { spend: number }) => l.spend)))
  assert.is((await fetch(`${nb.url}/anthropic/v1/messages`, { method: 'POST', body: '{}' })).status, 401)
})

test.run()
