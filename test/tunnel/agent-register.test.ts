import { test } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { Browser, newUser, PASSWORD } from '../identity/helpers.ts'
import { sha256hex } from '../../lib/core/secrets.ts'

let nb: TestNestbox
let owner: Browser
let wid: string
test.before(async () => {
  nb = await startTestNestbox({ set: { 'identity.rateLimit.signupPerIp': 1000, 'identity.rateLimit.loginPerIp': 1000 } })
  await newUser(nb, 'agent-owner@example.com')
  owner = new Browser(nb.url)
  assert.is((await owner.post('/api/auth/login', { username: 'agent-owner@example.com', password: PASSWORD })).status, 200)
  wid = (await (await owner.post('/api/workspaces', { name: 'Agents' })).json()).id
})
test.after(() => nb.close())

async function member(email: string, role: string) {
  await newUser(nb, email)
  assert.is((await owner.post(`/api/workspaces/${wid}/members`, { email, role })).status, 201)
  const b = new Browser(nb.url)
  assert.is((await b.post('/api/auth/login', { username: email, password: PASSWORD })).status, 200)
  return b
}

const register = (body: unknown) => fetch(nb.url + '/api/agent/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

/** The status a WebSocket upgrade to the tunnel gets (101 when accepted), and the socket if it opened. */
function tunnel(sandboxId: string, token: string): Promise<{ status: number; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${nb.url.replace('http', 'ws')}/api/tunnel/${sandboxId}?token=${encodeURIComponent(token)}`)
    ws.once('open', () => resolve({ status: 101, ws }))
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 })
      res.resume()
      ws.terminate()
    })
    ws.on('error', () => {})
  })
}

test('agent-code: developer or above; 24 hex valid 10 minutes; guests 403, strangers 404, anonymous 401', async () => {
  const t0 = Date.now()
  const r = await owner.post(`/api/workspaces/${wid}/agent-code`)
  assert.is(r.status, 200)
  const body = await r.json()
  assert.match(body.code, /^[0-9a-f]{24}$/)
  const ttl = Date.parse(body.expires_at) - t0
  assert.ok(ttl > 9.9 * 60_000 && ttl <= 10 * 60_000 + 1000, `ttl ${ttl}`)
  const dev = await member('agent-dev@example.com', 'developer')
  assert.is((await dev.post(`/api/workspaces/${wid}/agent-code`)).status, 200)
  const guest = await member('agent-guest@example.com', 'guest')
  const g = await guest.post(`/api/workspaces/${wid}/agent-code`)
  assert.is(g.status, 403)
  assert.is((await g.json()).code, 'insufficient_role')
  await newUser(nb, 'agent-stranger@example.com')
  const s = new Browser(nb.url)
  assert.is((await s.post('/api/auth/login', { username: 'agent-stranger@example.com', password: PASSWORD })).status, 200)
  assert.is((await s.post(`/api/workspaces/${wid}/agent-code`)).status, 404)
  assert.is((await fetch(`${nb.url}/api/workspaces/${wid}/agent-code`, { method: 'POST' })).status, 401)
})

test('register: 400 without a code, 401 for a wrong one, 201 once, then the code is spent', async () => {
  const missing = await register({ name: 'x' })
  assert.is(missing.status, 400)
  assert.equal(await missing.json(), { error: 'code is required', code: 'code_required' })
  assert.is((await register({ code: 42 })).status, 400)
  const wrong = await register({ code: 'f'.repeat(24) })
  assert.is(wrong.status, 401)
  assert.equal(await wrong.json(), { error: 'invalid or expired code', code: 'invalid_code' })
  assert.is((await register({ code: 'not hex at all' })).status, 401)

  const code = (await (await owner.post(`/api/workspaces/${wid}/agent-code`)).json()).code
  const ok = await register({ code, name: 'Laptop' })
  assert.is(ok.status, 201)
  const reg = await ok.json()
  assert.equal(Object.keys(reg).sort(), ['sandbox_id', 'tunnel_token', 'workspace_id'])
  assert.is(reg.workspace_id, wid)
  assert.is((await register({ code })).status, 401, 'single use')

  const sb = await (await owner.get(`/api/sandboxes/${reg.sandbox_id}`)).json()
  assert.is(sb.name, 'Laptop')
  assert.is(sb.status, 'offline')
  // the default name, and codes of two workspaces do not mix
  const code2 = (await (await owner.post(`/api/workspaces/${wid}/agent-code`)).json()).code
  const reg2 = await (await register({ code: code2.toUpperCase() })).json()
  assert.is((await (await owner.get(`/api/sandboxes/${reg2.sandbox_id}`)).json()).name, 'Local Agent')
})

test('a refused name does not spend the code; an expired code is refused', async () => {
  const code = (await (await owner.post(`/api/workspaces/${wid}/agent-code`)).json()).code
  assert.is((await register({ code, name: 'x'.repeat(101) })).status, 400)
  assert.is((await register({ code, name: 'fine' })).status, 201)

  const late = (await (await owner.post(`/api/workspaces/${wid}/agent-code`)).json()).code
  // ten minutes pass: the stored expiry moves into the past
  await nb.services.db.updateTable('agent_codes').set({ expires_at: Date.now() - 1 }).where('code_hash', '=', sha256hex(late)).execute()
  const r = await register({ code: late })
  assert.is(r.status, 401)
  assert.is((await r.json()).error, 'invalid or expired code')
})

test('tunnel: only the sandbox token opens it; the sandbox is running while connected, offline after', async () => {
  const code = (await (await owner.post(`/api/workspaces/${wid}/agent-code`)).json()).code
  const reg = await (await register({ code })).json()
  const other = await (await register({ code: (await (await owner.post(`/api/workspaces/${wid}/agent-code`)).json()).code })).json()
  assert.is((await tunnel(reg.sandbox_id, 'wrong')).status, 401)
  assert.is((await tunnel(reg.sandbox_id, other.tunnel_token)).status, 401, "another sandbox's token")
  assert.is((await tunnel('no-such-sandbox', reg.tunnel_token)).status, 401)
  const plain = await fetch(`${nb.url}/api/tunnel/${reg.sandbox_id}?token=${reg.tunnel_token}`)
  assert.is(plain.status, 400, 'not a WebSocket upgrade')

  const { status, ws } = await tunnel(reg.sandbox_id, reg.tunnel_token)
  assert.is(status, 101)
  assert.ok(nb.services.agentTunnels.connected(reg.sandbox_id))
  await until(async () => (await (await owner.get(`/api/sandboxes/${reg.sandbox_id}`)).json()).status === 'running')
  ws!.close()
  await until(async () => (await (await owner.get(`/api/sandboxes/${reg.sandbox_id}`)).json()).status === 'offline')
  assert.not.ok(nb.services.agentTunnels.connected(reg.sandbox_id))
})

/** Polls `cond` until it holds (a state another process or hook changes), failing after `ms`. */
async function until(cond: () => Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition never held')
    await new Promise((r) => setTimeout(r, 25))
  }
}

test.run()
