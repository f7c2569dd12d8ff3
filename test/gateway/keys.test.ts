/**
 * Virtual keys (/key/*), budgets, rpm/tpm/parallel limits, team budgets, spend
 * logs, and isolation between teams' keys and spend.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import OpenAI from 'openai'
import { newApiKey } from '../../lib/identity/keys.ts'
import { insertApiKey, insertMember, insertTeam, insertUser } from '../../lib/identity/store.ts'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startFakeOpenAI, type FakeOpenAI } from './fake-openai.ts'

let nb: TestNestbox
let up: FakeOpenAI
const MASTER = 'sk-keys-test-master-key'
let teamB: { id: string; admin: string; member: string }

// 10 prompt + 5 completion tokens per call at $0.001 / $0.002 per token = $0.02 a call
const COST = 0.02

const post = (path: string, key: string, body: unknown) => fetch(`${nb.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
const get = (path: string, key: string) => fetch(`${nb.url}${path}`, { headers: { authorization: `Bearer ${key}` } })
const chat = (key: string, model = 'priced', extra: Record<string, unknown> = {}) => post('/v1/chat/completions', key, { model, messages: [{ role: 'user', content: 'hi' }], ...extra })
const generate = async (by: string, body: Record<string, unknown>) => {
  const res = await post('/key/generate', by, body)
  assert.is(res.status, 200, await res.clone().text())
  return (await res.json()) as { key: string; key_name: string; token: string; team_id: string | null; expires: string | null }
}

async function addTeam(name: string) {
  const db = nb.services.db
  const now = Date.now()
  const id = `team-${name}`
  await insertTeam(db, { id, name, slug: name, is_byoc: 0, created_at: now, deleted_at: null })
  const keys: string[] = []
  for (const role of ['admin', 'member'] as const) {
    const user = `usr-${name}-${role}`
    await insertUser(db, { id: user, email: `${role}@${name}.test`, name: role, password_hash: null, is_active: 1, is_admin: 0, created_at: now, updated_at: now, deleted_at: null, activated_at: now })
    await insertMember(db, { team_id: id, user_id: user, role, created_at: now })
    const k = newApiKey()
    await insertApiKey(db, { id: `key-${name}-${role}`, team_id: id, created_by: user, name: role, key_prefix: k.prefix, key_hash: k.hash, created_at: now, last_used_at: null })
    keys.push(k.key)
  }
  return { id, admin: keys[0], member: keys[1] }
}

test.before(async () => {
  up = await startFakeOpenAI()
  const modelList = [
    { model_name: 'priced', litellm_params: { model: 'openai/house-model', api_base: up.base }, model_info: { input_cost_per_token: 0.001, output_cost_per_token: 0.002 } },
    { model_name: 'other', litellm_params: { model: 'openai/other-model', api_base: up.base } },
  ]
  nb = await startTestNestbox({ set: { 'gateway.masterKey': MASTER, 'gateway.modelList': JSON.stringify(modelList) } })
  teamB = await addTeam('bravo')
})

test.after(async () => {
  await nb?.close()
  await up?.close()
})

test('generate: LiteLLM fields, key shown once, only its hash stored; models restrict the key', async () => {
  const k = await generate(MASTER, { models: ['priced'], key_alias: 'ci', metadata: { owner: 'ci' }, duration: '1h' })
  assert.match(k.key, /^sk-/)
  assert.is(k.key_name, `sk-...${k.key.slice(-4)}`)
  assert.ok(k.expires && Date.parse(k.expires) > Date.now())
  const row = await nb.services.db.selectFrom('gateway_keys').selectAll().where('key_alias', '=', 'ci').executeTakeFirstOrThrow()
  assert.not.ok(JSON.stringify(row).includes(k.key), 'plaintext not stored')
  assert.is((await chat(k.key)).status, 200)
  const denied = await chat(k.key, 'other')
  assert.is(denied.status, 401)
  assert.is((await denied.json()).error.type, 'key_model_access_denied')
  const models = await new OpenAI({ apiKey: k.key, baseURL: `${nb.url}/v1` }).models.list()
  assert.equal(models.data.map((m) => m.id), ['priced'])
})

test('a budget stops the key once spend reaches it; spend is counted and stored correctly', async () => {
  const k = await generate(MASTER, { max_budget: 0.05 })
  for (let i = 0; i < 3; i++) assert.is((await chat(k.key)).status, 200)
  const over = await chat(k.key)
  assert.is(over.status, 400)
  const err = (await over.json()).error
  assert.is(err.type, 'budget_exceeded')
  assert.match(err.message, /Budget has been exceeded! Current cost: 0.06/)
  await nb.services.gateway.flushSpend()
  const info = await (await get(`/key/info?key=${k.key}`, MASTER)).json()
  assert.ok(Math.abs(info.info.spend - 3 * COST) < 1e-9)
})

test('concurrent calls: every success is charged, and the budget holds once they land', async () => {
  const k = await generate(MASTER, { max_budget: 0.1 })
  const results = await Promise.all(Array.from({ length: 12 }, () => chat(k.key).then((r) => r.status)))
  const ok = results.filter((s) => s === 200).length
  assert.ok(ok >= 5, `${ok} succeeded`)
  assert.ok(results.every((s) => s === 200 || s === 400))
  assert.is((await chat(k.key)).status, 400)
  await nb.services.gateway.flushSpend()
  const info = await (await get(`/key/info?key=${k.key}`, MASTER)).json()
  assert.ok(Math.abs(info.info.spend - ok * COST) < 1e-9, `spend ${info.info.spend} for ${ok} calls`)
})

test('rpm_limit answers 429 with retry-after; x-ratelimit headers count down', async () => {
  const k = await generate(MASTER, { rpm_limit: 2 })
  const first = await chat(k.key)
  assert.is(first.headers.get('x-ratelimit-limit-requests'), '2')
  assert.is(first.headers.get('x-ratelimit-remaining-requests'), '1')
  assert.is((await chat(k.key)).status, 200)
  const limited = await chat(k.key)
  assert.is(limited.status, 429)
  assert.ok(Number(limited.headers.get('retry-after')) >= 1)
  assert.is((await limited.json()).error.type, 'rate_limit_error')
})

test('tpm_limit and max_parallel_requests', async () => {
  const t = await generate(MASTER, { tpm_limit: 20 })
  assert.is((await chat(t.key)).status, 200) // 15 tokens
  assert.is((await chat(t.key)).status, 200) // 15 < 20 at admission
  assert.is((await chat(t.key)).status, 429)
  const p = await generate(MASTER, { max_parallel_requests: 1 })
  up.script.push('slow')
  const ac = new AbortController()
  const open = await fetch(`${nb.url}/v1/chat/completions`, { method: 'POST', signal: ac.signal, headers: { authorization: `Bearer ${p.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'priced', stream: true, messages: [{ role: 'user', content: 'x' }] }) })
  assert.is(open.status, 200)
  assert.is((await chat(p.key)).status, 429)
  ac.abort()
  await open.body?.cancel().catch(() => {})
  let status = 0
  for (let i = 0; i < 50 && status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 20))
    status = (await chat(p.key)).status
  }
  assert.is(status, 200, 'the slot frees when the stream ends')
})

test('update, block/unblock, list, regenerate (spend kept, old key dead) and delete', async () => {
  const k = await generate(MASTER, { key_alias: 'rotate-me' })
  assert.is((await chat(k.key)).status, 200)
  const upd = await post('/key/update', MASTER, { key: k.key, models: ['other'], rpm_limit: 100 })
  assert.is(upd.status, 200)
  assert.equal((await upd.json()).models, ['other'])
  assert.is((await chat(k.key)).status, 401)
  assert.is((await chat(k.key, 'other')).status, 200)
  assert.is((await post('/key/block', MASTER, { key: k.key })).status, 200)
  assert.is((await chat(k.key, 'other')).status, 403)
  assert.is((await post('/key/unblock', MASTER, { key: k.key })).status, 200)
  assert.is((await chat(k.key, 'other')).status, 200)
  const list = await (await get('/key/list?key_alias=rotate-me', MASTER)).json()
  assert.equal(list.keys, [k.token])
  const regen = await post(`/key/${k.key}/regenerate`, MASTER, {})
  const fresh = (await regen.json()) as { key: string }
  assert.is((await chat(k.key, 'other')).status, 401, 'old plaintext dead')
  assert.is((await chat(fresh.key, 'other')).status, 200)
  const del = await post('/key/delete', MASTER, { keys: [fresh.key] })
  assert.equal(await del.json(), { deleted_keys: [fresh.key] })
  assert.is((await chat(fresh.key, 'other')).status, 401)
})

test('teams: admins manage only their team\'s keys and spend; members and virtual keys cannot manage keys', async () => {
  const a = await generate(nb.apiKey, { key_alias: 'alpha-key' })
  const b = await generate(teamB.admin, { key_alias: 'bravo-key' })
  assert.is(a.team_id, nb.bootstrap.team_id)
  assert.is(b.team_id, teamB.id)
  assert.is((await get(`/key/info?key=${a.key}`, teamB.admin)).status, 404)
  assert.is((await post('/key/update', teamB.admin, { key: a.key, max_budget: 100 })).status, 404)
  assert.is((await post('/key/delete', teamB.admin, { keys: [a.key] })).status, 404)
  assert.is((await post('/key/generate', teamB.admin, { team_id: nb.bootstrap.team_id })).status, 403)
  assert.is((await post('/key/generate', teamB.member, {})).status, 403)
  assert.is((await post('/key/generate', b.key, {})).status, 403)
  const listB = await (await get('/key/list?return_full_object=true', teamB.admin)).json()
  assert.ok(listB.keys.length >= 1 && listB.keys.every((k: { team_id: string }) => k.team_id === teamB.id))
  const self = await (await get('/key/info', b.key)).json()
  assert.is(self.info.key_alias, 'bravo-key')
  assert.is((await get(`/key/info?key=${a.key}`, b.key)).status, 403)
  assert.is((await chat(a.key)).status, 200)
  assert.is((await chat(b.key)).status, 200)
  await nb.services.gateway.flushSpend()
  const logsB = await (await get('/spend/logs', teamB.admin)).json()
  assert.ok(logsB.length >= 1 && logsB.every((r: { team_id: string }) => r.team_id === teamB.id))
  assert.is((await get(`/spend/logs?team_id=${nb.bootstrap.team_id}`, teamB.admin)).status, 403)
  const own = await (await get('/spend/logs', b.key)).json()
  assert.ok(own.length === 1 && own[0].key_alias === 'bravo-key')
  const row = own[0]
  for (const f of ['request_id', 'call_type', 'api_key', 'spend', 'total_tokens', 'prompt_tokens', 'completion_tokens', 'startTime', 'endTime', 'model', 'model_id', 'model_group', 'custom_llm_provider', 'api_base', 'user', 'team_id', 'metadata', 'cache_hit', 'request_tags', 'status'])
    assert.ok(f in row, f)
  assert.is(row.call_type, 'acompletion')
  assert.is(row.status, 'success')
  const all = await (await get(`/spend/logs?api_key=${a.key}`, MASTER)).json()
  assert.is(all.length, 1)
})

test('team budget set by the master key stops every key of the team', async () => {
  assert.is((await post('/team/update', teamB.admin, { team_id: teamB.id, max_budget: 1000 })).status, 403)
  const setRes = await post('/team/update', MASTER, { team_id: teamB.id, max_budget: 0.03, rpm_limit: 1000 })
  assert.is(setRes.status, 200)
  const k = await generate(teamB.admin, {})
  // Spend already made by team B before the budget row existed is not counted; two more calls reach 0.04.
  assert.is((await chat(k.key)).status, 200)
  assert.is((await chat(teamB.admin)).status, 200)
  const over = await chat(k.key)
  assert.is(over.status, 400)
  assert.match((await over.json()).error.message, /Team=team-bravo/)
  const info = await (await get(`/team/info?team_id=${teamB.id}`, teamB.member)).json()
  assert.ok(Math.abs(info.team_info.spend - 0.04) < 1e-9)
  assert.is((await get(`/team/info?team_id=${nb.bootstrap.team_id}`, teamB.member)).status, 403)
})

test('a budget with a short budget_duration rolls over: spend restarts at 0, in memory and stored', async () => {
  const k = await generate(MASTER, { max_budget: 0.01, budget_duration: '1s' })
  assert.is((await chat(k.key)).status, 200)
  assert.is((await chat(k.key)).status, 400)
  await new Promise((r) => setTimeout(r, 1100))
  assert.is((await chat(k.key)).status, 200, 'new period')
  await nb.services.gateway.flushSpend()
  const info = await (await get(`/key/info?key=${k.key}`, MASTER)).json()
  assert.ok(Math.abs(info.info.spend - COST) < 1e-9, `spend ${info.info.spend}`)
  const stored = await nb.services.db.selectFrom('gateway_keys').select(['spend', 'budget_reset_at']).where('token_hash', '=', k.token).executeTakeFirstOrThrow()
  assert.ok(Math.abs(stored.spend - COST) < 1e-9, `stored ${stored.spend}`)
  assert.ok(stored.budget_reset_at! > Date.now() - 1000)
})

test('spend logs older than spendLogs.retentionDays are deleted by the retention job', async () => {
  await nb.services.gateway.flushSpend()
  const old = Date.now() - 31 * 86_400_000
  const row = (await nb.services.db.selectFrom('gateway_spend_logs').selectAll().limit(1).executeTakeFirstOrThrow())
  await nb.services.db.insertInto('gateway_spend_logs').values({ ...row, request_id: 'old-row', start_time: old, end_time: old }).execute()
  const before = await nb.services.db.selectFrom('gateway_spend_logs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  await nb.services.jobs.runNow('gateway.spend-retention')
  const after = await nb.services.db.selectFrom('gateway_spend_logs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  assert.is(Number(after.n), Number(before.n) - 1)
  assert.not.ok(await nb.services.db.selectFrom('gateway_spend_logs').select('request_id').where('request_id', '=', 'old-row').executeTakeFirst())
})

test('bad input gets 400s naming the field', async () => {
  for (const [body, param] of [
    [{ max_budget: -1 }, 'max_budget'],
    [{ duration: 'soon' }, 'duration'],
    [{ models: 'all' }, 'models'],
    [{ budget_duration: 'weekly' }, 'budget_duration'],
    [{ team_id: 'team-nope' }, 'team_id'],
    [{ colour: 'red' }, 'colour'],
  ] as const) {
    const res = await post('/key/generate', MASTER, body)
    assert.is(res.status, 400, JSON.stringify(body))
    assert.is((await res.json()).error.param, param)
  }
  assert.is((await get('/key/info?key=sk-unknown-unknown-unknown', MASTER)).status, 404)
})

test.run()
