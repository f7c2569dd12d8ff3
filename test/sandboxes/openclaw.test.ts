/**
 * An openclaw sandbox: openclaw installed by nestbox on first use (here from npm's
 * local cache, offline: set npm_config_offline; `bin/deps.sh --test` fills the cache),
 * its gateway started in a capsule with nestbox's Node and
 * answering through claw-{id}.{baseDomain}: HTTP health with the Bearer credential
 * injected, and its WebSocket protocol's first frame through the proxy.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { schema } from '../../lib/core/config/schema.ts'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startFakeAnthropic, type FakeAnthropic } from '../gateway/fake-anthropic.ts'
import type { Browser } from '../identity/helpers.ts'
import { BASE, enter, hostRequest, login, splitUrl, waitStatus } from './helpers.ts'

const VERSION = schema.sandboxes.openclawVersion.default as string
let nb: TestNestbox
let ant: FakeAnthropic
let owner: Browser
let sb: Record<string, any>
let host: string
let cookie: string

test.before(async () => {
  // nestbox's npm install of openclaw reads npm's cache only: nothing leaves this machine
  process.env.npm_config_offline = 'true'
  ant = await startFakeAnthropic()
  const modelList = [{ model_name: 'claude-sonnet-4-5', litellm_params: { model: 'anthropic/claude-sonnet-4-5', api_base: ant.url, api_key: 'sk-ant-real' } }]
  nb = await startTestNestbox({ set: { baseDomain: BASE, 'gateway.modelList': JSON.stringify(modelList), 'sandboxes.openclawDir': join(tmpdir(), `nestbox-test-openclaw-${VERSION}`) } })
  owner = await login(nb, nb.bootstrap.admin_email, nb.bootstrap.admin_password)
})
test.after(async () => {
  await nb?.close()
  await ant?.close()
})

test('an openclaw sandbox is installed on first use, starts, and is running once its gateway answers', async () => {
  const r = await owner.post(`/api/workspaces/${nb.bootstrap.team_id}/sandboxes`, { name: 'claw', type: 'openclaw' })
  assert.is(r.status, 201)
  sb = await r.json()
  assert.match(sb.openclaw_url, new RegExp(`^http://claw-${sb.short_id}\\.`))
  assert.is(sb.opencode_url, undefined)
  sb = await waitStatus(() => owner.get(`/api/sandboxes/${sb.id}`), 'running', 600_000)
  host = splitUrl(sb.openclaw_url).host
})

test('its config points the anthropic provider at nestbox with the proxy token, which /proxy/anthropic accepts', async () => {
  const out = await (await nb.api(`/v1/capsules/${sb.capsule_id}/exec`, { method: 'POST', json: { cmd: '/bin/sh', args: ['-c', 'cat "$HOME/.openclaw/openclaw.json"'] } })).json()
  const cfg = JSON.parse(out.stdout)
  const anthropic = cfg.models.providers.anthropic
  assert.is(anthropic.baseUrl, 'http://nestbox/proxy/anthropic')
  assert.match(anthropic.apiKey, /^nbx-/)
  assert.equal(cfg.gateway.controlUi.allowedOrigins, [`http://${host}`])
  const m = await fetch(`${nb.url}/proxy/anthropic/v1/messages`, { method: 'POST', headers: { 'x-api-key': anthropic.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'claw' }] }) })
  assert.is(m.status, 200)
})

test('claw-{id}: entry, then the gateway answers HTTP with the injected Bearer token', async () => {
  assert.is((await hostRequest(nb, host, '/health')).status, 401)
  const fresh = await (await owner.get(`/api/sandboxes/${sb.id}`)).json()
  const e = await enter(nb, fresh.openclaw_url)
  assert.is(e.answer.status, 302)
  cookie = e.cookie!
  const h = await hostRequest(nb, host, '/health', { headers: { cookie } })
  assert.is(h.status, 200, h.text)
  assert.equal(JSON.parse(h.text), { ok: true, status: 'live' })
  const ui = await hostRequest(nb, host, '/', { headers: { cookie } })
  assert.is(ui.status, 200)
  assert.match(String(ui.headers['content-type']), /text\/html/)
})

function wsOpen(headers: Record<string, string>): Promise<{ first?: string; status?: number }> {
  const u = new URL(nb.url)
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${u.host}/`, { headers: { host, origin: `http://${host}`, ...headers } })
    ws.once('message', (m) => {
      resolve({ first: String(m) })
      ws.close()
    })
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode })
      res.resume()
    })
    ws.once('error', reject)
  })
}

test('claw-{id}: its WebSocket gateway through the proxy (connect challenge); without the cookie the upgrade is refused', async () => {
  const ok = await wsOpen({ cookie })
  const frame = JSON.parse(ok.first!)
  assert.is(frame.type, 'event')
  assert.is(frame.event, 'connect.challenge')
  const refused = await wsOpen({})
  assert.is(refused.status, 401)
})

test('delete removes it', async () => {
  assert.is((await owner.del(`/api/sandboxes/${sb.id}`)).status, 204)
  assert.is((await hostRequest(nb, host, '/health', { headers: { cookie } })).status, 404)
})

test.run()
