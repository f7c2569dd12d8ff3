/** Capsule credentials: mintCapsuleKey / revokeCapsuleKey, used as a capsule would (env variables + SDKs). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startFakeOpenAI, type FakeOpenAI } from './fake-openai.ts'

let nb: TestNestbox
let up: FakeOpenAI
const MASTER = 'sk-capsule-test-master'
const UPSTREAM_SECRET = 'sk-real-provider-secret-do-not-leak'

test.before(async () => {
  up = await startFakeOpenAI({ name: 'model' })
  const modelList = [{ model_name: 'm', litellm_params: { model: 'openai/m', api_base: up.base, api_key: UPSTREAM_SECRET }, model_info: { input_cost_per_token: 0.001, output_cost_per_token: 0.001 } }]
  nb = await startTestNestbox({ set: { 'gateway.masterKey': MASTER, 'gateway.modelList': JSON.stringify(modelList) } })
})

test.after(async () => {
  await nb?.close()
  await up?.close()
})

test('a capsule key works with the env it comes with; no real key in it; spend logs name the capsule', async () => {
  const teamId = nb.bootstrap.team_id
  const cred = await nb.services.gateway.mintCapsuleKey(teamId, 'sb-0000aaaa', nb.url)
  assert.not.ok(JSON.stringify(cred).includes(UPSTREAM_SECRET), 'upstream key never in capsule credentials')
  assert.not.ok(JSON.stringify(cred).includes(MASTER))
  assert.is(cred.env.OPENAI_API_KEY, cred.env.ANTHROPIC_API_KEY)
  const openai = new OpenAI({ apiKey: cred.env.OPENAI_API_KEY, baseURL: cred.env.OPENAI_BASE_URL, maxRetries: 0 })
  const r = await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'from capsule' }] })
  assert.is(r.choices[0].message.content, 'model: from capsule')
  const claude = new Anthropic({ apiKey: cred.env.ANTHROPIC_API_KEY, baseURL: cred.env.ANTHROPIC_BASE_URL, maxRetries: 0 })
  const m = await claude.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'claude code' }] })
  assert.is((m.content[0] as Anthropic.TextBlock).text, 'model: claude code')
  await nb.services.gateway.flushSpend()
  const logs = await (await fetch(`${nb.url}/spend/logs?api_key=${cred.key}`, { headers: { authorization: `Bearer ${MASTER}` } })).json()
  assert.is(logs.length, 2)
  assert.ok(logs.every((l: { capsule_id: string; team_id: string }) => l.capsule_id === 'sb-0000aaaa' && l.team_id === teamId))
})

test('capsule keys spend against the team budget', async () => {
  const teamId = nb.bootstrap.team_id
  const cred = await nb.services.gateway.mintCapsuleKey(teamId, 'sb-0000bbbb', nb.url)
  const res = await fetch(`${nb.url}/team/update`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify({ team_id: teamId, max_budget: 0.01 }) })
  assert.is(res.status, 200)
  const call = () => fetch(`${nb.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${cred.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }) })
  assert.is((await call()).status, 200) // 15 tokens × $0.001 = 0.015 ≥ 0.01
  const over = await call()
  assert.is(over.status, 400)
  assert.is((await over.json()).error.type, 'budget_exceeded')
  await fetch(`${nb.url}/team/update`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify({ team_id: teamId, max_budget: null }) })
  assert.is((await call()).status, 200)
})

test('minting again rotates the key; revoking (or the capsule being destroyed) ends it', async () => {
  const teamId = nb.bootstrap.team_id
  const first = await nb.services.gateway.mintCapsuleKey(teamId, 'sb-0000cccc', nb.url)
  const models = (key: string) => fetch(`${nb.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status)
  assert.is(await models(first.key), 200)
  const second = await nb.services.gateway.mintCapsuleKey(teamId, 'sb-0000cccc', nb.url)
  assert.is(await models(first.key), 401)
  assert.is(await models(second.key), 200)
  assert.is(await nb.services.gateway.revokeCapsuleKey('sb-0000cccc'), true)
  assert.is(await models(second.key), 401)
  assert.is(await nb.services.gateway.revokeCapsuleKey('sb-0000cccc'), false)

  const third = await nb.services.gateway.mintCapsuleKey(teamId, 'sb-0000dddd', nb.url)
  assert.is(await models(third.key), 200)
  nb.services.bus.publish({ type: 'capsule.destroy', teamId, resourceType: 'capsule', resourceId: 'sb-0000dddd', data: { outcome: 'success' } })
  let status = 200
  for (let i = 0; i < 50 && status === 200; i++) {
    await new Promise((r) => setTimeout(r, 10))
    status = await models(third.key)
  }
  assert.is(status, 401)
})

test('minting for an unknown team or with a bad base URL is refused', async () => {
  const fails = (p: Promise<unknown>) => p.then(() => false, (e) => (e as { status?: number }).status === 400)
  assert.ok(await fails(nb.services.gateway.mintCapsuleKey('team-nope', 'sb-0000eeee', nb.url)))
  assert.ok(await fails(nb.services.gateway.mintCapsuleKey(nb.bootstrap.team_id, 'sb-0000eeee', 'not a url')))
})

test.run()
