/** Routing: weighted shuffle, retries on another deployment, cooldowns, fallbacks, context-window fallbacks, stream failover, wildcards. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import OpenAI from 'openai'
import type { Deployment } from '../../lib/gateway/routing/deployments.ts'
import { chooseDeployment, type DeploymentStats } from '../../lib/gateway/routing/strategies.ts'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startFakeOpenAI, type FakeOpenAI } from './fake-openai.ts'

let nb: TestNestbox
let a: FakeOpenAI
let b: FakeOpenAI
let client: OpenAI
const MASTER = 'sk-routing-test-master'

const countFor = (f: FakeOpenAI, model: string, from = 0) => f.received.slice(from).filter((r) => r.body?.model === model).length

test.before(async () => {
  a = await startFakeOpenAI({ name: 'a' })
  b = await startFakeOpenAI({ name: 'b' })
  const dep = (group: string, up: FakeOpenAI, model: string, extra: Record<string, unknown> = {}) => ({ model_name: group, litellm_params: { model: `openai/${model}`, api_base: up.base, ...extra } })
  const modelList = [
    dep('weighted', a, 'w-a', { weight: 9 }),
    dep('weighted', b, 'w-b', { weight: 1 }),
    dep('pair', a, 'p-a', { weight: 1_000_000 }),
    dep('pair', b, 'p-b', { weight: 1 }),
    dep('primary', a, 'primary-a'),
    dep('backup', b, 'backup-b'),
    dep('small', a, 'small-a'),
    dep('large', b, 'large-b'),
    dep('streamy', a, 's-a', { weight: 1_000_000 }),
    dep('capped', a, 'capped-a', { rpm: 2 }),
    dep('streamy', b, 's-b', { weight: 1 }),
    { model_name: 'openai/*', litellm_params: { model: 'openai/*', api_base: a.base } },
    { model_name: '*', litellm_params: { model: 'openai/*', api_base: b.base } },
  ]
  const routerSettings = { num_retries: 2, allowed_fails: 1, cooldown_time: 1, retry_after: 0, fallbacks: [{ primary: ['backup'] }], context_window_fallbacks: [{ small: ['large'] }] }
  nb = await startTestNestbox({ set: { 'gateway.masterKey': MASTER, 'gateway.modelList': JSON.stringify(modelList), 'gateway.routerSettings': JSON.stringify(routerSettings) } })
  client = new OpenAI({ apiKey: MASTER, baseURL: `${nb.url}/v1`, maxRetries: 0 })
})

test.after(async () => {
  await nb?.close()
  await a?.close()
  await b?.close()
})

const ask = (model: string, content = 'x') => client.chat.completions.create({ model, messages: [{ role: 'user', content }] }).withResponse()

test('simple-shuffle follows weights', async () => {
  const from = [a.received.length, b.received.length]
  await Promise.all(Array.from({ length: 200 }, () => ask('weighted')))
  const na = countFor(a, 'w-a', from[0])
  const nbb = countFor(b, 'w-b', from[1])
  assert.is(na + nbb, 200)
  assert.ok(na > 160 && nbb > 3, `a=${na} b=${nbb}`)
})

test('a failing deployment is retried on another one, then cooled down after allowed_fails, then back', async () => {
  a.script.push(500)
  const first = await ask('pair')
  assert.is(first.data.choices[0].message.content, 'b: x')
  assert.is(first.response.headers.get('x-litellm-attempted-retries'), '1')
  a.script.push(500)
  await ask('pair') // second failure within the minute: more than allowed_fails (1)
  const from = a.received.length
  for (let i = 0; i < 5; i++) assert.is((await ask('pair')).data.choices[0].message.content, 'b: x')
  assert.is(countFor(a, 'p-a', from), 0, 'cooled deployment gets nothing')
  await new Promise((r) => setTimeout(r, 1100))
  assert.is((await ask('pair')).data.choices[0].message.content, 'a: x', 'back after cooldown_time')
})

test('fallbacks: a group that keeps failing falls back to the configured group', async () => {
  a.script.push(429, 429)
  const { data, response } = await ask('primary')
  // The second failure within the minute cools the only deployment: the group is done after two attempts.
  assert.is(a.script.length, 0)
  assert.is(data.choices[0].message.content, 'b: x')
  assert.is(response.headers.get('x-litellm-attempted-fallbacks'), '1')
  assert.is(response.headers.get('x-litellm-model-group'), 'backup')
})

test('context_window_fallbacks: a context-length error goes to the larger group at once', async () => {
  a.script.push('context')
  const orig = a.received.length
  const fromB = b.received.length
  const res = await fetch(`${nb.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'small', messages: [{ role: 'user', content: 'x' }] }) })
  assert.is(res.status, 200)
  assert.is(countFor(a, 'small-a', orig), 1, 'no retry of a context error')
  assert.is(countFor(b, 'large-b', fromB), 1)
  assert.is(res.headers.get('x-litellm-model-group'), 'large')
})

test('a stream fails over to another deployment before its first byte', async () => {
  a.script.push(503)
  const stream = await client.chat.completions.create({ model: 'streamy', messages: [{ role: 'user', content: 'fo' }], stream: true })
  let text = ''
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? ''
  assert.is(text, 'b: fo')
})

test('wildcards: the most specific pattern wins and the star fills the upstream model', async () => {
  const n = a.received.length
  const m = b.received.length
  assert.is((await ask('openai/gpt-x')).data.choices[0].message.content, 'a: x')
  assert.is(a.received[n].body?.model, 'gpt-x')
  assert.is((await ask('some-model')).data.choices[0].message.content, 'b: x')
  assert.is(b.received[m].body?.model, 'some-model')
})

test('a deployment at its rpm is skipped; with none left the group answers 429', async () => {
  assert.is((await ask('capped')).data.choices[0].message.content, 'a: x')
  assert.is((await ask('capped')).data.choices[0].message.content, 'a: x')
  const res = await fetch(`${nb.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'capped', messages: [{ role: 'user', content: 'x' }] }) })
  assert.is(res.status, 429)
  assert.ok(res.headers.get('retry-after'))
  assert.match((await res.json()).error.message, /No deployments available for selected model=capped/)
})

test('least-busy and latency-based pick by in-flight count and measured latency', () => {
  const d = (id: string) => ({ id }) as Deployment
  const [x, y] = [d('x'), d('y')]
  const stats: Record<string, DeploymentStats> = {
    x: { inflight: 5, latencyMs: 10, minute: 0, requests: 0, tokens: 0, fails: 0, failMinute: 0, cooledUntil: 0 },
    y: { inflight: 1, latencyMs: 90, minute: 0, requests: 0, tokens: 0, fails: 0, failMinute: 0, cooledUntil: 0 },
  }
  assert.is(chooseDeployment('least-busy', [x, y], (z) => stats[z.id], 0)[0], y)
  assert.is(chooseDeployment('latency-based-routing', [x, y], (z) => stats[z.id], 0)[0], x)
  assert.is(chooseDeployment('cost-based-routing', [x, y], (z) => stats[z.id], 0, (z) => (z === y ? 1e-6 : 5e-6))[0], y)
})

test.run()
