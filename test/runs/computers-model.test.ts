/**
 * cloudbox.model: collaborator replies and brief drafts come from a gateway model
 * (here an OpenAI-compatible upstream on loopback behind nestbox's gateway), with
 * the deterministic ones as the fallback when the model fails or drafts an invalid spec.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startTestNestbox, type TestNestbox } from '../harness.ts'

type Msg = { role: string; content: string }
let nb: TestNestbox
let upstream: Server
const requests: Array<{ auth: string; body: { model: string; messages: Msg[] } }> = []
let draftAnswer = ''
let failing = false

const DRAFT = { profile: { role: 'incident commander' }, filesystem: [{ path: 'runbooks/db.md', kind: 'runbook' }], collaborators: [{ id: 'sre', role: 'sre' }], objectives: [{ id: 'mitigate', title: 'Mitigate' }], rubric: [{ id: 'rb', weight: 1, must: 'reads the runbook', mustEvent: { type: 'read', path: 'runbooks/db.md' } }] }

test.before(async () => {
  upstream = createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => (raw += c))
    req.on('end', () => {
      const body = JSON.parse(raw)
      requests.push({ auth: String(req.headers.authorization), body })
      if (failing) return res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"down"}}')
      const system = body.messages[0].content as string
      const content = system.startsWith('Draft') ? draftAnswer : `model says: ${body.messages.at(-1).content}`
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }))
    })
  })
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`
  const modelList = [{ model_name: 'collab', litellm_params: { model: 'openai/collab-upstream', api_base: url, api_key: 'sk-upstream-secret' } }]
  nb = await startTestNestbox({ set: { 'gateway.modelList': JSON.stringify(modelList), 'cloudbox.model': 'collab' } })
})
test.after(async () => {
  await nb?.close()
  await new Promise((r) => upstream.close(r))
})

const post = async (path: string, json: unknown) => {
  const r = await nb.api(path, { method: 'POST', json })
  return { status: r.status, body: await r.json() }
}

test('ask: the reply comes from the model, prompted with the collaborator role, style and focus, recorded in the receipt', async () => {
  const { id } = (await post('/api/computers', { profile: { role: 'staff engineer' }, filesystem: [], collaborators: [{ id: 'arch', role: 'reviewer', style: 'terse', focus: 'queues' }], objectives: [], rubric: [] })).body
  const n = requests.length
  const r = await post(`/api/c/${id}/ask`, { who: 'arch', message: 'Should this use a queue?' })
  assert.equal(r.body, { from: 'arch', role: 'reviewer', style: 'terse', reply: 'model says: Should this use a queue?' })
  const sent = requests[n]
  assert.is(sent.body.model, 'collab-upstream')
  assert.is(sent.auth, 'Bearer sk-upstream-secret')
  assert.match(sent.body.messages[0].content, /You are arch, a reviewer collaborating with a staff engineer\. Your style: terse\. You care about: queues\./)
  const receipts = (await (await nb.api(`/api/c/${id}/receipts`)).json()).receipts
  assert.equal(receipts.at(-1).payload, { who: 'arch', message: 'Should this use a queue?', reply: 'model says: Should this use a queue?', model: 'collab' })
  // a failing model leaves the deterministic reply, and the receipt says no model answered
  failing = true
  try {
    const f = await post(`/api/c/${id}/ask`, { who: 'arch', message: 'and now?' })
    assert.is(f.status, 200)
    assert.is(f.body.reply, '[terse] reviewer replying re: "and now?". From my angle (queues): worth checking that against the spec.')
    const last = (await (await nb.api(`/api/c/${id}/receipts`)).json()).receipts.at(-1)
    assert.is(last.payload.model, null)
  } finally {
    failing = false
  }
})

test('brief: a valid model draft (fenced JSON) is answered; an invalid one falls back to the deterministic draft', async () => {
  draftAnswer = 'Here it is:\n```json\n' + JSON.stringify(DRAFT) + '\n```'
  const good = await post('/api/brief', { brief: 'An incident commander during a database outage.' })
  assert.is(good.status, 200)
  assert.equal(good.body, { spec: DRAFT, source: 'model:collab' })
  assert.match(requests.at(-1)!.body.messages[1].content, 'database outage')
  assert.is((await post('/api/computers', good.body.spec)).status, 201)
  draftAnswer = JSON.stringify({ ...DRAFT, filesystem: [{ path: '../escape', kind: 'memo' }] })
  const bad = await post('/api/brief', { brief: 'An incident commander during a database outage.' })
  assert.is(bad.body.source, 'deterministic')
  assert.is(bad.body.spec.profile.role, 'incident commander during a database outage')
  draftAnswer = 'no json here'
  assert.is((await post('/api/brief', { brief: 'A tester.' })).body.source, 'deterministic')
})

test.run()
