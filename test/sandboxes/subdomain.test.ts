/**
 * Subdomain rules that need no running service: unknown hosts and prefixes, a
 * local sandbox whose agent is offline (error page, never a request to it), entry
 * tokens bound to one sandbox and one session, and hosts that are not a sandbox's
 * left to the rest of nestbox.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import type { Browser } from '../identity/helpers.ts'
import { BASE, enter, hostRequest, login, splitUrl } from './helpers.ts'

let nb: TestNestbox
let owner: Browser
let local: Record<string, any>

test.before(async () => {
  nb = await startTestNestbox({ set: { baseDomain: BASE, 'sandboxes.opencodePrefix': 'code', 'identity.rateLimit.loginPerIp': 1000 } })
  owner = await login(nb, nb.bootstrap.admin_email, nb.bootstrap.admin_password)
  const { sandbox } = await nb.services.sandboxes.service.createLocal({ workspaceId: nb.bootstrap.team_id, name: 'laptop' })
  local = await (await owner.get(`/api/sandboxes/${sandbox.id}`)).json()
})
test.after(async () => {
  await nb?.close()
})

test('a local sandbox answers with its kind, status offline and a URL under the configured prefix', () => {
  assert.is(local.is_local, true)
  assert.is(local.status, 'offline')
  assert.match(local.opencode_url, new RegExp(`^http://code-${local.short_id}\\.`))
  assert.equal(local.agent_info, null)
})

test('an offline local agent: after entry, an error page saying so (503), never the service', async () => {
  const e = await enter(nb, local.opencode_url)
  assert.is(e.answer.status, 302)
  const page = await hostRequest(nb, splitUrl(local.opencode_url).host, '/', { headers: { cookie: e.cookie! } })
  assert.is(page.status, 503)
  assert.match(String(page.headers['content-type']), /text\/html/)
  assert.match(page.text, /Local agent offline/)
})

test('a state change or WebSocket from another origin (e.g. a page a capsule serves on a sibling host) is refused, even with the cookie', async () => {
  const e = await enter(nb, local.opencode_url)
  const host = splitUrl(local.opencode_url).host
  const h = { cookie: e.cookie!, 'content-type': 'application/json' }
  const foreign = await hostRequest(nb, host, '/session', { method: 'POST', headers: { ...h, origin: `http://8000-sb-12345678.${BASE}` }, body: '{}' })
  assert.is(foreign.status, 403)
  assert.match(foreign.text, /another site/)
  const ws = await hostRequest(nb, host, '/pty', { headers: { cookie: e.cookie!, origin: 'http://evil.example', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
  assert.is(ws.status, 403)
  // its own origin passes the check (and then meets the offline agent)
  assert.is((await hostRequest(nb, host, '/session', { method: 'POST', headers: { ...h, origin: `http://${host}` }, body: '{}' })).status, 503)
  assert.is((await hostRequest(nb, host, '/', { headers: { cookie: e.cookie!, origin: 'http://evil.example' } })).status, 503, 'a GET is not a state change')
})

test('unknown sandboxes and other prefixes: 404 page; the default prefix is not served once changed', async () => {
  assert.is((await hostRequest(nb, `code-0123456789ab.${BASE}`, '/')).status, 404)
  assert.is((await hostRequest(nb, `claw-${local.short_id}.${BASE}`, '/')).status, 404, 'an opencode sandbox is not reached under the openclaw prefix')
  const old = await hostRequest(nb, `oc-${local.short_id}.${BASE}`, '/api/health')
  assert.is(old.status, 200, 'oc- is no sandbox host here: nestbox answers as for any host')
  assert.match(String(old.headers['content-type']), /json/)
})

test('an entry token opens only its own sandbox and only for its session', async () => {
  const { sandbox: other } = await nb.services.sandboxes.service.createLocal({ workspaceId: nb.bootstrap.team_id, name: 'desktop' })
  const path = splitUrl(local.opencode_url).path
  const wrongHost = await hostRequest(nb, `code-${other.short_id}.${BASE}`, path)
  assert.is(wrongHost.status, 401)
  assert.is(wrongHost.headers['set-cookie'], undefined)
  // a token whose session ended opens nothing
  const fresh = await login(nb, nb.bootstrap.admin_email, nb.bootstrap.admin_password)
  const url = (await (await fresh.get(`/api/sandboxes/${local.id}`)).json()).opencode_url
  assert.is((await fresh.post('/api/auth/logout')).status, 204)
  const after = await enter(nb, url)
  assert.is(after.answer.status, 401)
  assert.is(after.cookie, null)
})

test.run()
