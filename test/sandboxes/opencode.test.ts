/**
 * An opencode sandbox end to end: the real opencode-ai binary serving in a capsule,
 * reached through its subdomain by Host header (entry, cookie, health, SSE), a
 * prompt whose model call goes through /proxy/anthropic with the sandbox's proxy
 * token to a fake Anthropic upstream; the token refused while paused; pause/resume;
 * membership and cookie rules; another team neither sees nor touches the sandbox.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { sql } from 'kysely'
import { request, type IncomingMessage } from 'node:http'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startFakeAnthropic, type FakeAnthropic } from '../gateway/fake-anthropic.ts'
import { addMember } from '../capsules/fixtures.ts'
import { newUser } from '../identity/helpers.ts'
import { BASE, enter, hostRequest, login, splitUrl, waitStatus } from './helpers.ts'
import type { Browser } from '../identity/helpers.ts'

let nb: TestNestbox
let ant: FakeAnthropic
let owner: Browser
let team: string
let sb: Record<string, any>
let host: string
let cookie: string

const REAL_KEY = 'sk-ant-real-upstream-key'

test.before(async () => {
  ant = await startFakeAnthropic()
  const modelList = [{ model_name: 'claude-sonnet-4-5', litellm_params: { model: 'anthropic/claude-sonnet-4-5', api_base: ant.url, api_key: REAL_KEY } }]
  nb = await startTestNestbox({ set: { baseDomain: BASE, 'gateway.modelList': JSON.stringify(modelList), 'gateway.spendLogs.flushMs': 20, 'identity.rateLimit.signupPerIp': 1000, 'identity.rateLimit.loginPerIp': 1000 } })
  team = nb.bootstrap.team_id
  owner = await login(nb, nb.bootstrap.admin_email, nb.bootstrap.admin_password)
})
test.after(async () => {
  await nb?.close()
  await ant?.close()
})

const getSb = (b: Browser = owner) => () => b.get(`/api/sandboxes/${sb.id}`)

test('create: input checked (400), a guest may not (403), another team gets 404; the answer is creating with its entry URL', async () => {
  const bad = await owner.post(`/api/workspaces/${team}/sandboxes`, { name: 'x', type: 'vscode' })
  assert.is(bad.status, 400)
  assert.equal(await bad.json(), { error: 'type must be opencode or openclaw', code: 'invalid_type' })
  assert.is((await owner.post(`/api/workspaces/${team}/sandboxes`, { type: 'opencode' })).status, 400)
  const guest = await addMember(nb, 'viewer', team)
  const g = await fetch(`${nb.url}/api/workspaces/${team}/sandboxes`, { method: 'POST', headers: { 'x-api-key': guest.key, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'g', type: 'opencode' }) })
  assert.is(g.status, 403)
  const other = await addMember(nb, 'owner')
  const o = await fetch(`${nb.url}/api/workspaces/${team}/sandboxes`, { method: 'POST', headers: { 'x-api-key': other.key, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'o', type: 'opencode' }) })
  assert.is(o.status, 404)

  const r = await owner.post(`/api/workspaces/${team}/sandboxes`, { name: 'my opencode', type: 'opencode' })
  assert.is(r.status, 201)
  sb = await r.json()
  assert.is(sb.status, 'creating')
  assert.is(sb.workspace_id, team)
  assert.is(sb.is_local, false)
  assert.match(sb.opencode_url, new RegExp(`^http://oc-${sb.short_id}\\.${BASE.replace(/\./g, '\\.')}/auth\\?token=`))
  host = splitUrl(sb.opencode_url).host
  // the API-key caller gets the plain URL (no session to bind an entry token to)
  const byKey = await (await nb.api(`/api/sandboxes/${sb.id}`)).json()
  assert.is(byKey.opencode_url, `http://${host}/`)
})

test('the sandbox runs once opencode answers; it is a capsule of the team (shown in /v1/capsules)', async () => {
  const running = await waitStatus(getSb(), 'running')
  assert.ok(running.capsule_id)
  const caps = await (await nb.api('/v1/capsules')).json()
  const cap = caps.find((c: { sandbox_id?: string; id?: string }) => (c.sandbox_id ?? c.id) === running.capsule_id)
  assert.ok(cap, 'the capsule is listed for the team')
  sb = running
  const list = await (await owner.get(`/api/workspaces/${team}/sandboxes`)).json()
  assert.equal(list.map((x: { id: string }) => x.id), [sb.id])
})

test('subdomain: no cookie or a bad token gets an error page, never the service; /auth sets a host-only HttpOnly cookie and redirects', async () => {
  const none = await hostRequest(nb, host, '/global/health')
  assert.is(none.status, 401)
  assert.match(String(none.headers['content-type']), /text\/html/)
  assert.not.match(none.text, /healthy/)
  const forged = await hostRequest(nb, host, '/global/health', { headers: { cookie: 'nestbox_sandbox=ses-x.abc' } })
  assert.is(forged.status, 401)
  const badToken = await hostRequest(nb, host, '/auth?token=ses-1.9999999999.nope')
  assert.is(badToken.status, 401)
  assert.is(badToken.headers['set-cookie'], undefined)

  const fresh = await (await owner.get(`/api/sandboxes/${sb.id}`)).json()
  const e = await enter(nb, fresh.opencode_url)
  assert.is(e.answer.status, 302)
  assert.is(e.answer.headers.location, '/')
  const set = e.answer.headers['set-cookie']![0]
  assert.match(set, /HttpOnly/)
  assert.match(set, /Path=\//)
  assert.not.match(set, /Domain=/i)
  cookie = e.cookie!
  // a token of one sandbox does not open another host
  const other = await hostRequest(nb, `oc-000000000000.${BASE}`, splitUrl(fresh.opencode_url).path)
  assert.is(other.status, 404)
})

test('subdomain: opencode answers through the proxy (credential injected), SSE streams', async () => {
  const h = await hostRequest(nb, host, '/global/health', { headers: { cookie } })
  assert.is(h.status, 200, h.text)
  assert.is(JSON.parse(h.text).healthy, true)
  // the user's own Authorization is replaced by the service's
  const withAuth = await hostRequest(nb, host, '/global/health', { headers: { cookie, authorization: 'Basic b3BlbmNvZGU6d3Jvbmc=' } })
  assert.is(withAuth.status, 200)

  const u = new URL(nb.url)
  const first = await new Promise<string>((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: '/event', headers: { host, cookie, accept: 'text/event-stream' } }, (res: IncomingMessage) => {
      assert.match(String(res.headers['content-type']), /text\/event-stream/)
      res.once('data', (d: Buffer) => {
        resolve(d.toString())
        req.destroy()
      })
    })
    req.on('error', reject)
    req.end()
  })
  assert.match(first, /^data: /m)
})

test('a prompt reaches the fake Anthropic upstream through /proxy/anthropic with the sandbox proxy token; spend goes to the team and sandbox', async () => {
  const s = await hostRequest(nb, host, '/session', { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' })
  assert.is(s.status, 200, s.text)
  const session = JSON.parse(s.text)
  const n = ant.received.length
  const m = await hostRequest(nb, host, `/session/${session.id}/message`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ parts: [{ type: 'text', text: 'hello from the test' }], model: { providerID: 'anthropic', modelID: 'claude-sonnet-4-5' } }) })
  assert.is(m.status, 200, m.text)
  const answer = JSON.parse(m.text)
  assert.ok(answer.parts.some((p: { type: string; text?: string }) => p.type === 'text' && p.text === 'claude heard: hello from the test'), m.text)
  const calls = ant.received.slice(n)
  assert.ok(calls.length >= 1)
  for (const c of calls) {
    assert.is(c.path, '/v1/messages')
    assert.is(c.headers['x-api-key'], REAL_KEY, 'the real key is put in by nestbox')
  }
  let rows: Array<{ team_id: string | null; metadata: string; capsule_id: string | null }> = []
  for (let i = 0; i < 100 && rows.length < calls.length; i++) {
    rows = (await sql<{ team_id: string | null; metadata: string; capsule_id: string | null }>`SELECT team_id, metadata, capsule_id FROM gateway_spend_logs WHERE request_tags LIKE '%anthropic-passthrough%'`.execute(nb.services.db)).rows
    if (rows.length < calls.length) await new Promise((r) => setTimeout(r, 50))
  }
  assert.ok(rows.length >= 1)
  for (const r of rows) {
    assert.is(r.team_id, team)
    assert.is(JSON.parse(r.metadata).sandbox_id, sb.id)
    assert.is(r.capsule_id, sb.capsule_id)
  }
})

/** The sandbox's proxy token, read from opencode's environment inside its capsule. */
async function proxyToken(): Promise<string> {
  const r = await nb.api(`/v1/capsules/${sb.capsule_id}/exec`, { method: 'POST', json: { cmd: '/bin/sh', args: ['-c', "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -m1 '^OPENCODE_CONFIG_CONTENT='"] } })
  const out = await r.json()
  const line = String(out.stdout ?? '').trim()
  assert.ok(line, `opencode's config in its environment (${JSON.stringify(out)})`)
  return JSON.parse(line.slice('OPENCODE_CONFIG_CONTENT='.length)).provider.anthropic.options.apiKey
}

const messages = (key: string, path = '/proxy/anthropic/v1/messages') =>
  fetch(nb.url + path, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'direct' }] }) })

test('the proxy token works on /proxy/anthropic only while the sandbox runs: 403 in Anthropic\'s shape when paused; pause and resume', async () => {
  const token = await proxyToken()
  assert.match(token, /^nbx-/)
  const ok = await messages(token)
  assert.is(ok.status, 200)
  assert.is((await ok.json()).content[0].text, 'claude heard: direct')
  assert.is((await messages(token, '/anthropic/v1/messages')).status, 401, 'only /proxy/anthropic takes sandbox tokens')
  const forged = await messages(token.slice(0, -4) + 'AAAA')
  assert.is(forged.status, 403)

  const p = await owner.post(`/api/sandboxes/${sb.id}/pause`)
  assert.is(p.status, 200)
  assert.is((await p.json()).status, 'paused')
  const refused = await messages(token)
  assert.is(refused.status, 403)
  const body = await refused.json()
  assert.is(body.type, 'error')
  assert.is(body.error.type, 'permission_error')
  const page = await hostRequest(nb, host, '/global/health', { headers: { cookie } })
  assert.is(page.status, 503)
  assert.match(page.text, /paused/)

  const r = await owner.post(`/api/sandboxes/${sb.id}/resume`)
  assert.is(r.status, 200)
  await waitStatus(getSb(), 'running')
  assert.is((await hostRequest(nb, host, '/global/health', { headers: { cookie } })).status, 200)
  assert.is((await messages(token)).status, 200)
})

test('membership: a member enters and is served; once removed from the workspace, an error page; a non-member cannot get in; logout ends the cookie', async () => {
  const dev = await newUser(nb, 'sbx-dev@example.com')
  const add = await owner.post(`/api/workspaces/${team}/members`, { email: 'sbx-dev@example.com', role: 'developer' })
  assert.is(add.status, 201)
  const devB = await login(nb, 'sbx-dev@example.com')
  const seen = await (await devB.get(`/api/sandboxes/${sb.id}`)).json()
  const e = await enter(nb, seen.opencode_url)
  assert.is(e.answer.status, 302)
  assert.is((await hostRequest(nb, host, '/global/health', { headers: { cookie: e.cookie! } })).status, 200)

  const outsider = await newUser(nb, 'sbx-outsider@example.com')
  const outB = await login(nb, 'sbx-outsider@example.com')
  assert.is((await outB.get(`/api/sandboxes/${sb.id}`)).status, 404)
  assert.ok(outsider.user_id)

  assert.is((await owner.del(`/api/workspaces/${team}/members/${dev.user_id}`)).status, 204)
  let denied = await hostRequest(nb, host, '/global/health', { headers: { cookie: e.cookie! } })
  for (let i = 0; i < 40 && denied.status === 200; i++) {
    await new Promise((r) => setTimeout(r, 50)) // the admission cache holds for one second
    denied = await hostRequest(nb, host, '/global/health', { headers: { cookie: e.cookie! } })
  }
  assert.is(denied.status, 403)
  assert.match(denied.text, /not a member/)

  assert.is((await devB.post('/api/auth/logout')).status, 204)
  const gone = await hostRequest(nb, host, '/global/health', { headers: { cookie: e.cookie! } })
  assert.ok(gone.status === 401 || gone.status === 403)
})

test('another team neither sees nor touches the sandbox', async () => {
  const other = await addMember(nb, 'owner')
  const h = { 'x-api-key': other.key }
  assert.is((await fetch(`${nb.url}/api/sandboxes/${sb.id}`, { headers: h })).status, 404)
  assert.is((await fetch(`${nb.url}/api/sandboxes/${sb.id}/pause`, { method: 'POST', headers: h })).status, 404)
  assert.is((await fetch(`${nb.url}/api/sandboxes/${sb.id}`, { method: 'DELETE', headers: h })).status, 404)
  assert.is((await fetch(`${nb.url}/api/workspaces/${team}/sandboxes`, { headers: h })).status, 404)
  assert.is((await fetch(`${nb.url}/api/workspaces/${other.teamId}/sandboxes`, { headers: h }).then((r) => r.json())).length, 0)
  assert.is((await getSb()()).status, 200)
})

let token: string

test('status follows the capsule: stopped from /v1/capsules, the sandbox says stopped, its subdomain an error page, its token 403', async () => {
  token = await proxyToken()
  assert.is((await nb.api(`/v1/capsules/${sb.capsule_id}`, { method: 'DELETE' })).status, 202)
  await waitStatus(getSb(), 'stopped', 60_000)
  const page = await hostRequest(nb, host, '/global/health', { headers: { cookie } })
  assert.is(page.status, 503)
  assert.match(page.text, /stopped/)
  assert.is((await messages(token)).status, 403)
  assert.is((await owner.post(`/api/sandboxes/${sb.id}/resume`)).status, 409, 'a stopped sandbox cannot be resumed')
})

test('delete: the row goes, the subdomain says so, the proxy token is refused', async () => {
  assert.is((await owner.del(`/api/sandboxes/${sb.id}`)).status, 204)
  assert.is((await getSb()()).status, 404)
  const page = await hostRequest(nb, host, '/global/health', { headers: { cookie } })
  assert.is(page.status, 404)
  assert.is((await messages(token)).status, 403)
  const cap = await nb.api(`/v1/capsules/${sb.capsule_id}`)
  assert.ok(cap.status === 404 || (await cap.json()).status !== 'running')
})

test.run()
