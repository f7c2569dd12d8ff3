/**
 * The Anthropic surface (/v1/messages) with @anthropic-ai/sdk, and translation
 * both ways: Anthropic clients on OpenAI-compatible upstreams, OpenAI clients
 * on Anthropic upstreams (system prompts, tools, images, stop reasons, stream
 * deltas, usage with cache tokens, cost).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startFakeAnthropic, type FakeAnthropic } from './fake-anthropic.ts'
import { startFakeOpenAI, type FakeOpenAI } from './fake-openai.ts'

let nb: TestNestbox
let ant: FakeAnthropic
let oai: FakeOpenAI
const MASTER = 'sk-anthropic-test-master'
let claude: Anthropic
let openai: OpenAI

const weatherTool = { name: 'get_weather', description: 'Weather of a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } }

test.before(async () => {
  ant = await startFakeAnthropic()
  oai = await startFakeOpenAI({ name: 'glm' })
  const modelList = [
    { model_name: 'claude-sonnet', litellm_params: { model: 'anthropic/claude-sonnet-4-20250514', api_base: ant.url, api_key: 'sk-ant-real-secret' } },
    { model_name: 'glm', litellm_params: { model: 'openai/glm-4.5', api_base: oai.base, api_key: 'zai-real-secret' } },
  ]
  nb = await startTestNestbox({ set: { 'gateway.masterKey': MASTER, 'gateway.modelList': JSON.stringify(modelList) } })
  claude = new Anthropic({ apiKey: MASTER, baseURL: nb.url, maxRetries: 0 })
  openai = new OpenAI({ apiKey: MASTER, baseURL: `${nb.url}/v1`, maxRetries: 0 })
})

test.after(async () => {
  await nb?.close()
  await ant?.close()
  await oai?.close()
})

test('Anthropic SDK on an Anthropic upstream: passthrough with the real key, the client\'s anthropic-version and beta headers', async () => {
  const n = ant.received.length
  const msg = await claude.messages.create({ model: 'claude-sonnet', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] })
  assert.is((msg.content[0] as Anthropic.TextBlock).text, 'claude heard: hi')
  assert.is(msg.usage.cache_read_input_tokens, 1000)
  const got = ant.received[n]
  assert.is(got.headers['x-api-key'], 'sk-ant-real-secret')
  assert.match(String(got.headers['anthropic-version']), /^\d{4}-\d{2}-\d{2}$/, "the client's anthropic-version is passed on")
  assert.is(got.body?.model, 'claude-sonnet-4-20250514')
  await claude.messages.create({ model: 'claude-sonnet', max_tokens: 10, messages: [{ role: 'user', content: 'beta' }] }, { headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } })
  assert.is(ant.received.at(-1)!.headers['anthropic-beta'], 'prompt-caching-2024-07-31', 'beta headers reach an Anthropic upstream')
})

test('Anthropic SDK streaming passthrough; cost counts cache reads and writes at their prices', async () => {
  const stream = claude.messages.stream({ model: 'claude-sonnet', max_tokens: 100, messages: [{ role: 'user', content: 'stream' }] })
  let text = ''
  stream.on('text', (t) => (text += t))
  const final = await stream.finalMessage()
  assert.is(text, 'claude heard: stream')
  assert.is(final.usage.output_tokens, 50)
  const res = await fetch(`${nb.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': MASTER, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: 'claude-sonnet', max_tokens: 10, messages: [{ role: 'user', content: 'cost' }] }) })
  await res.json()
  // claude-sonnet-4: $3/M input, $15/M output, $0.30/M cache read, $3.75/M cache write
  const want = 100 * 3e-6 + 1000 * 0.3e-6 + 200 * 3.75e-6 + 50 * 15e-6
  assert.ok(Math.abs(Number(res.headers.get('x-litellm-response-cost')) - want) < 1e-12, `${res.headers.get('x-litellm-response-cost')} vs ${want}`)
})

test('Anthropic SDK on an OpenAI-compatible upstream: system prompt, tools and tool results translated', async () => {
  const n = oai.received.length
  const msg = await claude.messages.create({ model: 'glm', max_tokens: 100, system: 'be brief', tools: [weatherTool], messages: [{ role: 'user', content: 'weather in Paris?' }] })
  const sent = oai.received[n].body!
  assert.equal((sent.messages as unknown[])[0], { role: 'system', content: 'be brief' })
  assert.is(oai.received[n].headers.authorization, 'Bearer zai-real-secret')
  assert.equal((sent.tools as Array<{ function: { name: string } }>)[0].function.name, 'get_weather')
  assert.is(msg.stop_reason, 'tool_use')
  const use = msg.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock
  assert.equal(use.input, { city: 'Paris' })
  assert.is(msg.usage.input_tokens, 6, 'OpenAI prompt_tokens 10 minus 4 cached')
  assert.is(msg.usage.cache_read_input_tokens, 4)
  // The tool result goes back as a tool message.
  await claude.messages.create({
    model: 'glm',
    max_tokens: 100,
    tools: [weatherTool],
    messages: [
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: use.id, name: use.name, input: use.input }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18 C' }, { type: 'text', text: 'thanks' }] },
    ],
  })
  const msgs = oai.received.at(-1)!.body!.messages as Array<Record<string, unknown>>
  assert.equal(msgs[1], { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] })
  assert.equal(msgs[2], { role: 'tool', tool_call_id: 'call_1', content: '18 C' })
  assert.equal(msgs[3], { role: 'user', content: 'thanks' })
})

test('Anthropic SDK streaming from an OpenAI-compatible upstream: text and tool-call argument deltas', async () => {
  const stream = claude.messages.stream({ model: 'glm', max_tokens: 100, messages: [{ role: 'user', content: 'hello there' }] })
  let text = ''
  stream.on('text', (t) => (text += t))
  const final = await stream.finalMessage()
  assert.is(text, 'glm: hello there')
  assert.is(final.stop_reason, 'end_turn')
  assert.is(final.usage.output_tokens, 5)
  const tools = claude.messages.stream({ model: 'glm', max_tokens: 100, tools: [weatherTool], messages: [{ role: 'user', content: 'weather?' }] })
  const partial: string[] = []
  tools.on('inputJson', (delta) => partial.push(delta))
  const m = await tools.finalMessage()
  assert.equal(partial, ['{"city": "Pa', 'ris"}'])
  assert.is(m.stop_reason, 'tool_use')
  assert.equal((m.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock).input, { city: 'Paris' })
})

test('an OpenAI-compatible stream that ends without [DONE] still ends the Anthropic message', async () => {
  oai.script.push('nodone')
  const final = await claude.messages.stream({ model: 'glm', max_tokens: 10, messages: [{ role: 'user', content: 'no done' }] }).finalMessage()
  assert.is((final.content[0] as Anthropic.TextBlock).text, 'glm: no done')
  assert.is(final.stop_reason, 'end_turn')
})

test('OpenAI SDK on an Anthropic upstream: system, images, tools, stop reasons and cache usage', async () => {
  const n = ant.received.length
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='
  const r = await openai.chat.completions.create({
    model: 'claude-sonnet',
    messages: [
      { role: 'system', content: 'you are terse' },
      { role: 'user', content: [{ type: 'text', text: 'what is the weather here' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }] },
    ],
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }],
    tool_choice: 'required',
  })
  const sent = ant.received[n].body!
  assert.equal(sent.system, [{ type: 'text', text: 'you are terse' }])
  assert.equal((sent.messages as Array<{ content: unknown[] }>)[0].content[1], { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } })
  assert.equal(sent.tool_choice, { type: 'any' })
  assert.is(sent.max_tokens, 4096)
  assert.is(r.choices[0].finish_reason, 'tool_calls')
  assert.equal(JSON.parse(r.choices[0].message.tool_calls![0].type === 'function' ? r.choices[0].message.tool_calls![0].function.arguments : '{}'), { city: 'Paris', unit: 'c' })
  assert.is(r.usage?.prompt_tokens, 1300, 'prompt includes cache reads and writes')
  assert.is(r.usage?.prompt_tokens_details?.cached_tokens, 1000)
})

test('OpenAI SDK streaming from an Anthropic upstream: content deltas, tool-call argument deltas, usage', async () => {
  const stream = await openai.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'weather now' }], tools: [{ type: 'function', function: { name: 'get_weather', parameters: {} } }], stream: true, stream_options: { include_usage: true } })
  let text = ''
  let args = ''
  let finish: string | null = null
  let usage: OpenAI.CompletionUsage | undefined
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? ''
    for (const tc of c.choices[0]?.delta?.tool_calls ?? []) args += tc.function?.arguments ?? ''
    finish = c.choices[0]?.finish_reason ?? finish
    if (c.usage) usage = c.usage
  }
  assert.is(text, 'claude heard: weather now')
  assert.equal(JSON.parse(args), { city: 'Paris', unit: 'c' })
  assert.is(finish, 'tool_calls')
  assert.is(usage?.completion_tokens, 50)
  assert.is(usage?.prompt_tokens, 1300)
})

test('/v1/messages errors use the Anthropic envelope; count_tokens reaches an Anthropic upstream', async () => {
  try {
    await claude.messages.create({ model: 'nope', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
    assert.unreachable()
  } catch (e) {
    assert.instance(e, Anthropic.BadRequestError)
    assert.is((e as { error?: { type?: string } }).error?.type, 'error')
  }
  const res = await fetch(`${nb.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  assert.is(res.status, 401)
  assert.equal(await res.json(), { type: 'error', error: { type: 'authentication_error', message: 'No api key passed in.' } })
  const count = await claude.messages.countTokens({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'count me' }] })
  assert.ok(count.input_tokens > 0)
  // An OpenAI-compatible upstream has no counting endpoint: estimated (~4 characters a token), no upstream call.
  const n = oai.received.length
  const est = await claude.messages.countTokens({ model: 'glm', system: 'x'.repeat(40), messages: [{ role: 'user', content: 'y'.repeat(400) }] })
  assert.is(est.input_tokens, 110)
  assert.is(oai.received.length, n)
  ant.script.push(529)
  try {
    await claude.messages.create({ model: 'claude-sonnet', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
  } catch {
    // 529 is retried as a 5xx: the next attempt succeeds
    assert.unreachable()
  }
})

test.run()
