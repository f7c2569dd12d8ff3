/**
 * The OpenAI surface with the official openai SDK, against a fake upstream:
 * chat (streaming and not), embeddings, models, auth, errors, retries, and the
 * /v1 prefix shared with the Wrenn surface.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import OpenAI from 'openai'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { scratchDir, startTestNestbox, type TestNestbox } from '../harness.ts'
import { startFakeOpenAI, type FakeOpenAI } from './fake-openai.ts'

let nb: TestNestbox
let up: FakeOpenAI
let master: string
let client: OpenAI

const MASTER = 'sk-test-master-0123456789'

test.before(async () => {
  up = await startFakeOpenAI({ name: 'up' })
  const dir = scratchDir('gw')
  const file = join(dir, 'config.yaml')
  writeFileSync(
    file,
    `model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: os.environ/FAKE_BASE
      api_key: os.environ/FAKE_KEY
  - model_name: text-embedding-3-small
    litellm_params:
      model: openai/text-embedding-3-small
      api_base: os.environ/FAKE_BASE
      api_key: os.environ/FAKE_KEY
  - model_name: short-timeout
    litellm_params:
      model: openai/slowpoke
      api_base: os.environ/FAKE_BASE
      timeout: 0.3
router_settings:
  num_retries: 1
litellm_settings:
  drop_params: true
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
`,
  )
  nb = await startTestNestbox({ set: { 'gateway.litellmConfig': file }, env: { FAKE_BASE: up.base, FAKE_KEY: 'sk-upstream-secret', LITELLM_MASTER_KEY: MASTER } })
  master = MASTER
  client = new OpenAI({ apiKey: master, baseURL: `${nb.url}/v1`, maxRetries: 0 })
})

test.after(async () => {
  await nb?.close()
  await up?.close()
})

test('chat completion through /v1 with the master key: upstream gets its own model name and key', async () => {
  const n = up.received.length
  const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] }).withResponse()
  assert.is(data.choices[0].message.content, 'up: hello')
  assert.is(data.usage?.prompt_tokens, 10)
  const got = up.received[n]
  assert.is(got.path, '/v1/chat/completions')
  assert.is(got.body?.model, 'gpt-4o')
  assert.is(got.headers.authorization, 'Bearer sk-upstream-secret')
  assert.is(response.headers.get('x-litellm-model-group'), 'gpt-4o')
  assert.ok(response.headers.get('x-litellm-call-id'))
  assert.ok(response.headers.get('x-litellm-model-id'))
  assert.is(response.headers.get('x-litellm-attempted-retries'), '0')
  // gpt-4o list price: (10-4) × 2.5e-6 + 4 × 1.25e-6 + 5 × 1e-5
  assert.ok(Math.abs(Number(response.headers.get('x-litellm-response-cost')) - (6 * 2.5e-6 + 4 * 1.25e-6 + 5 * 1e-5)) < 1e-12)
  assert.ok(Number(response.headers.get('x-litellm-overhead-duration-ms')) >= 0)
  assert.is(response.headers.get('llm_provider-x-ratelimit-remaining-requests'), '4999')
  assert.is(response.headers.get('llm_provider-x-request-id'), 'req_upstream_1')
})

test('call ids are time-ordered UUIDs (v7), each the request_id of its spend log row', async () => {
  const v7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
  const ids: string[] = []
  for (let i = 0; i < 2; i++) {
    const { response } = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `id ${i}` }] }).withResponse()
    ids.push(response.headers.get('x-litellm-call-id')!)
    // the next call starts in a later millisecond, so its id sorts after
    const t = Date.now()
    while (Date.now() === t) await new Promise((r) => setImmediate(r))
  }
  for (const id of ids) assert.match(id, v7)
  assert.ok(ids[0] < ids[1], ids.join(' then '))
  assert.ok(Math.abs(parseInt(ids[1].replace(/-/g, '').slice(0, 12), 16) - Date.now()) < 60_000, 'the id carries the time')
  await nb.services.gateway.flushSpend()
  for (const id of ids) {
    const rows = await (await fetch(`${nb.url}/spend/logs?request_id=${id}`, { headers: { authorization: `Bearer ${master}` } })).json()
    assert.is(rows.length, 1, id)
    assert.is(rows[0].request_id, id)
  }
})

test('chat completion without the /v1 prefix', async () => {
  const c = new OpenAI({ apiKey: master, baseURL: nb.url, maxRetries: 0 })
  const r = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'no prefix' }] })
  assert.is(r.choices[0].message.content, 'up: no prefix')
})

test('streaming with include_usage: deltas arrive and the usage chunk comes last', async () => {
  const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'stream me' }], stream: true, stream_options: { include_usage: true } })
  let text = ''
  let usage: OpenAI.CompletionUsage | null | undefined
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? ''
    if (chunk.usage) usage = chunk.usage
  }
  assert.is(text, 'up: stream me')
  assert.is(usage?.total_tokens, 15)
})

test('streaming without include_usage: the gateway asks the upstream for usage but does not pass it on', async () => {
  const n = up.received.length
  const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'quiet' }], stream: true })
  let text = ''
  let sawUsage = false
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? ''
    if (chunk.usage) sawUsage = true
  }
  assert.is(text, 'up: quiet')
  assert.is(sawUsage, false)
  assert.equal(up.received[n].body?.stream_options, { include_usage: true })
})

test('models lists the configured groups; embeddings pass through', async () => {
  const models = []
  for await (const m of client.models.list()) models.push(m.id)
  assert.ok(models.includes('gpt-4o') && models.includes('text-embedding-3-small'))
  const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'abc' })
  assert.equal(e.data[0].embedding, [0.5, 0.25, 0.125])
  const info = await (await fetch(`${nb.url}/model/info`, { headers: { authorization: `Bearer ${master}` } })).json()
  const entry = info.data.find((x: { model_name: string }) => x.model_name === 'gpt-4o')
  assert.is(entry.litellm_params.api_key, undefined, 'secrets stripped')
  assert.is(entry.model_info.input_cost_per_token, 2.5e-6)
})

test('a nestbox API key (wrn_) works as a gateway key, in the headers LiteLLM accepts', async () => {
  const c = new OpenAI({ apiKey: nb.apiKey, baseURL: `${nb.url}/v1`, maxRetries: 0 })
  const r = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'wrn' }] })
  assert.is(r.choices[0].message.content, 'up: wrn')
  for (const h of ['x-api-key', 'api-key', 'x-litellm-api-key']) {
    const res = await fetch(`${nb.url}/v1/models`, { headers: { [h]: master } })
    assert.is(res.status, 200, h)
  }
})

test('auth errors use the OpenAI envelope', async () => {
  const none = await fetch(`${nb.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-4o","messages":[]}' })
  assert.is(none.status, 401)
  const body = await none.json()
  assert.is(body.error.type, 'auth_error')
  assert.is(body.error.code, '401')
  assert.ok('param' in body.error && 'message' in body.error)
  const bad = new OpenAI({ apiKey: 'sk-not-a-key-at-all-0000', baseURL: `${nb.url}/v1`, maxRetries: 0 })
  try {
    await bad.models.list()
    assert.unreachable()
  } catch (e) {
    assert.instance(e, OpenAI.AuthenticationError)
  }
})

test('unknown model: 400 invalid_request_error naming the model param', async () => {
  const res = await fetch(`${nb.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${master}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }) })
  assert.is(res.status, 400)
  const body = await res.json()
  assert.equal({ type: body.error.type, param: body.error.param, code: body.error.code }, { type: 'invalid_request_error', param: 'model', code: '400' })
  const notJson = await fetch(`${nb.url}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${master}`, 'content-type': 'application/json' }, body: '{nope' })
  assert.is(notJson.status, 400)
  assert.is((await notJson.json()).error.type, 'invalid_request_error')
})

test('an upstream 500 is retried; a 400 is not and keeps its status and message', async () => {
  up.script.push(500)
  const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'retry' }] }).withResponse()
  assert.is(data.choices[0].message.content, 'up: retry')
  assert.is(response.headers.get('x-litellm-attempted-retries'), '1')
  up.script.push(400)
  const n = up.received.length
  try {
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'bad' }] })
    assert.unreachable()
  } catch (e) {
    assert.instance(e, OpenAI.BadRequestError)
    assert.is((e as InstanceType<typeof OpenAI.BadRequestError>).message.includes('up says 400'), true)
  }
  assert.is(up.received.length, n + 1, 'no retry of a 400')
  up.script.push(503, 503)
  try {
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'down' }] })
    assert.unreachable()
  } catch (e) {
    assert.is((e as { status: number }).status, 503, 'the upstream status is kept after retries')
  }
})

test('a deployment timeout answers 408 in the OpenAI envelope', async () => {
  up.script.push('hang', 'hang')
  const res = await fetch(`${nb.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${master}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'short-timeout', messages: [{ role: 'user', content: 'x' }] }) })
  assert.is(res.status, 408)
  assert.is((await res.json()).error.type, 'timeout')
})

test('a stream cut by the upstream ends with an error the SDK raises', async () => {
  up.script.push('cut')
  const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'cut' }], stream: true })
  let text = ''
  try {
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
    assert.unreachable()
  } catch (e) {
    assert.instance(e, OpenAI.APIError)
    assert.ok(String((e as Error).message).includes('cut'))
  }
  assert.is(text, 'up: ')
})

test('a client that disconnects cancels the upstream stream', async () => {
  up.script.push('slow')
  const n = up.received.length
  const ac = new AbortController()
  const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'slow' }], stream: true }, { signal: ac.signal })
  let chunks = 0
  try {
    for await (const _ of stream) if (++chunks === 3) ac.abort()
  } catch {
    // aborted
  }
  const rec = up.received[n]
  for (let i = 0; i < 100 && !rec.closedEarly; i++) await new Promise((r) => setTimeout(r, 20))
  assert.ok(rec.closedEarly, 'upstream request was closed')
})

test('a client that leaves before a non-streamed answer cancels the upstream request, without a retry', async () => {
  up.script.push('hang', 'hang')
  const n = up.received.length
  const ac = new AbortController()
  const pending = fetch(`${nb.url}/v1/chat/completions`, { method: 'POST', signal: ac.signal, headers: { authorization: `Bearer ${master}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'bye' }] }) })
  for (let i = 0; i < 100 && up.received.length === n; i++) await new Promise((r) => setTimeout(r, 10))
  ac.abort()
  await pending.catch(() => {})
  const rec = up.received[n]
  for (let i = 0; i < 100 && !rec.closedEarly; i++) await new Promise((r) => setTimeout(r, 20))
  assert.ok(rec.closedEarly, 'upstream request was closed')
  await new Promise((r) => setTimeout(r, 100))
  assert.is(up.received.length, n + 1, 'not retried')
  up.script.length = 0
})

test('Wrenn /v1 routes keep their envelope next to the gateway ones', async () => {
  const res = await fetch(`${nb.url}/v1/capsules`)
  assert.is(res.status, 401)
  const body = await res.json()
  assert.ok(body.error.code && body.error.request_id, 'Wrenn envelope')
  const me = await nb.api('/v1/me')
  assert.is(me.status, 200)
})

test.run()
