import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { lookup } from 'node:dns/promises'
import { join } from 'node:path'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { addMember } from '../capsules/fixtures.ts'
import { startReceivers, type Receivers } from './receivers.ts'

let nb: TestNestbox
let rx: Receivers
let other: { key: string; teamId: string }
let viewer: { key: string }
let member: { key: string }
const FAST = { 'events.channels.retryBaseMs': 50, 'events.channels.retryMaxMs': 2000, 'events.channels.maxAttempts': 3, 'events.channels.timeoutMs': 2000 }

test.before(async () => {
  rx = await startReceivers()
  nb = await startTestNestbox({ set: { ...rx.settings(), ...FAST } })
  other = await addMember(nb, 'owner')
  viewer = await addMember(nb, 'viewer', nb.bootstrap.team_id)
  member = await addMember(nb, 'member', nb.bootstrap.team_id)
})
test.after(async () => {
  await nb.close()
  await rx.close()
})

const as = (key: string, path: string, init: { method?: string; json?: unknown } = {}) =>
  fetch(nb.url + path, { method: init.method ?? (init.json ? 'POST' : 'GET'), headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: init.json === undefined ? undefined : JSON.stringify(init.json) })
const create = async (body: Record<string, unknown>, key = nb.apiKey) => {
  const r = await as(key, '/v1/channels', { json: body })
  assert.is(r.status, 201, await r.clone().text())
  return r.json()
}
const newKey = (name: string, key = nb.apiKey) => as(key, '/v1/api-keys', { json: { name } }).then((r) => r.json())
const channel = (id: string) => as(nb.apiKey, `/v1/channels/${id}`).then((r) => r.json())
const waitChannel = async (id: string, pred: (c: any) => boolean, what: string, ms = 10_000) => {
  const t0 = Date.now()
  for (;;) {
    const c = await channel(id)
    if (pred(c)) return c
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(c.delivery)}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

test('CRUD: ChannelResponse shape, secret shown once, 409 on a duplicate name, roles, other teams get 404', async () => {
  const c = await create({ name: 'ops hook', provider: 'webhook', config: { url: `${rx.base}/hook/crud` }, events: ['capsule.create', 'capsule.destroy'] })
  assert.match(c.id, /^ch-[0-9a-f]{16}$/)
  assert.equal([c.team_id, c.name, c.provider, c.events], [nb.bootstrap.team_id, 'ops hook', 'webhook', ['capsule.create', 'capsule.destroy']])
  assert.match(c.secret, /^[0-9a-f]{64}$/)
  assert.ok(c.created_at && c.updated_at)
  const got = await channel(c.id)
  assert.is(got.secret, null)
  assert.not.ok(JSON.stringify(got).includes(c.secret))
  assert.not.ok(JSON.stringify(got).includes('/hook/crud'), 'config never comes back')
  // list: any member reads
  const list = await (await as(viewer.key, '/v1/channels')).json()
  assert.ok(list.some((x: { id: string }) => x.id === c.id))
  // duplicate name
  let r = await as(nb.apiKey, '/v1/channels', { json: { name: 'ops hook', provider: 'slack', config: { webhook_url: `${rx.base}/slack/services/T/B/x` }, events: ['capsule.create'] } })
  assert.is(r.status, 409)
  // roles: viewers and members cannot change channels
  for (const k of [viewer.key, member.key]) {
    r = await as(k, '/v1/channels', { json: { name: 'nope', provider: 'slack', config: { webhook_url: `${rx.base}/slack/services/T/B/x` }, events: ['capsule.create'] } })
    assert.is(r.status, 403)
    assert.is((await r.json()).error.code, 'insufficient_role')
    assert.is((await as(k, `/v1/channels/${c.id}`, { method: 'DELETE' })).status, 403)
  }
  // another team sees nothing
  assert.is((await as(other.key, `/v1/channels/${c.id}`)).status, 404)
  assert.is((await as(other.key, `/v1/channels/${c.id}`, { method: 'PATCH', json: { name: 'x', events: ['capsule.create'] } })).status, 404)
  assert.is((await as(other.key, `/v1/channels/${c.id}`, { method: 'DELETE' })).status, 404)
  assert.equal(await (await as(other.key, '/v1/channels')).json(), [])
  // update
  r = await as(nb.apiKey, `/v1/channels/${c.id}`, { method: 'PATCH', json: { name: 'renamed', events: ['capsule.pause'] } })
  assert.is(r.status, 200)
  const up = await r.json()
  assert.equal([up.name, up.events, up.secret], ['renamed', ['capsule.pause'], null])
  // delete
  assert.is((await as(nb.apiKey, `/v1/channels/${c.id}`, { method: 'DELETE' })).status, 204)
  assert.is((await as(nb.apiKey, `/v1/channels/${c.id}`)).status, 404)
  // audited
  const audit = await (await as(nb.apiKey, '/v1/audit-logs?limit=200')).json()
  const acts = audit.entries.filter((e: { resource_id: string }) => e.resource_id === c.id).map((e: { action: string }) => e.action)
  assert.equal(acts.sort(), ['create', 'delete', 'update'])
})

test('bad input: 400 with a clear code, nothing saved', async () => {
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ name: '', provider: 'slack', config: { webhook_url: `${rx.base}/slack/services/x` }, events: ['capsule.create'] }, 'invalid_name'],
    [{ name: 'a', provider: 'pager', config: {}, events: ['capsule.create'] }, 'invalid_provider'],
    [{ name: 'a', provider: 'slack', config: { webhook_url: `${rx.base}/slack/services/x` }, events: [] }, 'invalid_events'],
    [{ name: 'a', provider: 'slack', config: { webhook_url: `${rx.base}/slack/services/x` }, events: ['capsule.exploded'] }, 'invalid_events'],
    [{ name: 'a', provider: 'slack', config: {}, events: ['capsule.create'] }, 'invalid_config'],
    [{ name: 'a', provider: 'slack', config: { webhook_url: 'https://evil.example/slack' }, events: ['capsule.create'] }, 'invalid_config'],
    [{ name: 'a', provider: 'telegram', config: { bot_token: 'nope', chat_id: '1' }, events: ['capsule.create'] }, 'invalid_config'],
    [{ name: 'a', provider: 'matrix', config: { homeserver_url: `${rx.base}/matrix`, access_token: 't', room_id: 'general' }, events: ['capsule.create'] }, 'invalid_config'],
    [{ name: 'a', provider: 'webhook', config: { url: 'ftp://x/y' }, events: ['capsule.create'] }, 'invalid_config'],
    [{ name: 'a', provider: 'webhook', config: { url: `${rx.base}/hook/x`, extra: 'y' }, events: ['capsule.create'] }, 'invalid_config'],
  ]
  for (const [body, code] of bad) {
    const r = await as(nb.apiKey, '/v1/channels', { json: body })
    assert.is(r.status, 400, JSON.stringify(body))
    assert.is((await r.json()).error.code, code, JSON.stringify(body))
  }
  assert.equal(await (await as(nb.apiKey, '/v1/channels')).json(), [])
})

test('every provider gets the event in its own wire format; the webhook signature verifies', async () => {
  const sub = { events: ['api_key.create'] }
  const made = [
    await create({ name: 'discord', provider: 'discord', config: { webhook_url: `${rx.base}/discord/api/webhooks/123/tok` }, ...sub }),
    await create({ name: 'slack', provider: 'slack', config: { webhook_url: `${rx.base}/slack/services/T0/B0/xyz` }, ...sub }),
    await create({ name: 'teams', provider: 'teams', config: { webhook_url: `${rx.base}/teams/workflows/abc` }, ...sub }),
    await create({ name: 'gchat', provider: 'googlechat', config: { webhook_url: `${rx.base}/googlechat/v1/spaces/AAA/messages?key=k&token=t` }, ...sub }),
    await create({ name: 'telegram', provider: 'telegram', config: { bot_token: '123456:ABC-def_ghi', chat_id: '-1001' }, ...sub }),
    await create({ name: 'matrix', provider: 'matrix', config: { homeserver_url: `${rx.base}/matrix`, access_token: 'syt_matrix_token', room_id: '!room:example.org' }, ...sub }),
    await create({ name: 'hook', provider: 'webhook', config: { url: `${rx.base}/hook/formats` }, ...sub }),
  ]
  rx.secret('/hook/formats', made[6].secret)
  const n0 = rx.got.length
  const k = await newKey('announced')
  await rx.waitFor((g) => new Set(g.slice(n0).map((x) => x.provider)).size === 7, 'all seven providers')
  const by = (p: string) => rx.got.slice(n0).find((x) => x.provider === p)!
  assert.match(by('discord').body.content, /api_key\.create succeeded/)
  assert.match(by('slack').body.text, new RegExp(`api_key: ${k.id}`))
  assert.match(by('teams').body.attachments[0].content.body[0].text, /api_key\.create/)
  assert.match(by('googlechat').body.text, /name: announced/)
  assert.equal([by('telegram').path, by('telegram').body.chat_id], ['/telegram/bot123456:ABC-def_ghi/sendMessage', '-1001'])
  const mx = by('matrix')
  assert.match(mx.path, /^\/matrix\/_matrix\/client\/v3\/rooms\/!room%3Aexample\.org\/send\/m\.room\.message\/dlv-[0-9a-f]{16}$/)
  assert.match(mx.body.body, /api_key\.create/)
  const hook = by('hook')
  assert.is(hook.body.event, 'api_key.create')
  assert.equal(hook.body.resource, { id: k.id, type: 'api_key' })
  assert.match(String(hook.headers['x-wrenn-delivery']), /^[0-9a-f-]{36}$/)
  assert.match(String(hook.headers['x-wrenn-timestamp']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  for (const c of made) await waitChannel(c.id, (x) => x.delivery.delivered === 1 && x.delivery.queued === 0, `${c.name} delivered`)
  for (const c of made) await as(nb.apiKey, `/v1/channels/${c.id}`, { method: 'DELETE' })
})

test('retries: 500 then 429 with Retry-After are retried (Retry-After honoured); a channel that keeps failing gives up, shows why, and does not hold others up', async () => {
  const flaky = await create({ name: 'flaky', provider: 'slack', config: { webhook_url: `${rx.base}/slack/services/flaky` }, events: ['api_key.create'] })
  const dead = await create({ name: 'dead', provider: 'discord', config: { webhook_url: `${rx.base}/discord/api/webhooks/9/dead` }, events: ['api_key.create'] })
  const fine = await create({ name: 'fine', provider: 'googlechat', config: { webhook_url: `${rx.base}/googlechat/v1/spaces/FINE` }, events: ['api_key.create'] })
  rx.failNext('slack', [{ status: 500 }, { status: 429, retryAfter: '1' }])
  rx.failAlways('discord', { status: 503 })
  const n0 = rx.got.length
  const t0 = Date.now()
  await newKey('retried')
  await rx.waitFor((g) => g.slice(n0).some((x) => x.provider === 'googlechat'), 'the healthy channel')
  assert.ok(Date.now() - t0 < 1500, 'the healthy channel was not delayed')
  await rx.waitFor((g) => g.slice(n0).some((x) => x.provider === 'slack'), 'flaky delivered after retries', 10_000)
  assert.ok(Date.now() - t0 >= 1000, 'Retry-After: 1 was honoured')
  const f = await waitChannel(flaky.id, (x) => x.delivery.delivered === 1, 'flaky delivered')
  assert.is(f.delivery.last_error, null)
  const d = await waitChannel(dead.id, (x) => x.delivery.failed === 1, 'dead gave up')
  assert.equal([d.delivery.last_error.attempts, d.delivery.last_error.gave_up, d.delivery.last_error.http_status, d.delivery.last_error.event], [3, true, 503, 'api_key.create'])
  assert.match(d.delivery.last_error.error, /503/)
  rx.failAlways('discord', null)
  // a 4xx other than 408/429 is not retried
  rx.failNext('googlechat', [{ status: 404 }])
  await newKey('not found')
  const g = await waitChannel(fine.id, (x) => x.delivery.failed === 1, 'fine: one permanent failure')
  assert.equal([g.delivery.last_error.attempts, g.delivery.last_error.http_status], [1, 404])
  for (const c of [flaky, dead, fine]) await as(nb.apiKey, `/v1/channels/${c.id}`, { method: 'DELETE' })
})

test('POST /v1/channels/test sends without saving; a failing destination is a 400 with the reason', async () => {
  const n0 = rx.got.length
  let r = await as(nb.apiKey, '/v1/channels/test', { json: { provider: 'slack', config: { webhook_url: `${rx.base}/slack/services/test` } } })
  assert.is(r.status, 200, await r.clone().text())
  assert.equal(await r.json(), { status: 'ok' })
  assert.match(rx.got.slice(n0).find((x) => x.provider === 'slack')!.body.text, /channel\.test/)
  r = await as(nb.apiKey, '/v1/channels/test', { json: { provider: 'telegram', config: { bot_token: '1:x', chat_id: '5' } } })
  assert.is(r.status, 200)
  rx.failNext('matrix', [{ status: 403 }])
  r = await as(nb.apiKey, '/v1/channels/test', { json: { provider: 'matrix', config: { homeserver_url: `${rx.base}/matrix`, access_token: 'syt_matrix_token', room_id: '!r:x' } } })
  assert.is(r.status, 400)
  const e = await r.json()
  assert.is(e.error.code, 'channel_test_failed')
  assert.match(e.error.message, /403/)
  r = await as(viewer.key, '/v1/channels/test', { json: { provider: 'slack', config: { webhook_url: `${rx.base}/slack/services/test` } } })
  assert.is(r.status, 403)
  assert.equal(await (await as(nb.apiKey, '/v1/channels')).json(), [])
})

test('rotate config: the new secret signs from then on; secrets are sealed at rest with a key outside the database', async () => {
  const c = await create({ name: 'rotating', provider: 'webhook', config: { url: `${rx.base}/hook/rot`, secret: 'first-secret-0123456789' }, events: ['api_key.create'] })
  assert.is(c.secret, 'first-secret-0123456789')
  let r = await as(nb.apiKey, `/v1/channels/${c.id}/config`, { method: 'PUT', json: { config: { url: `${rx.base}/hook/rot2` } } })
  assert.is(r.status, 200, await r.clone().text())
  const rot = await r.json()
  assert.match(rot.secret, /^[0-9a-f]{64}$/)
  rx.secret('/hook/rot2', rot.secret)
  const n0 = rx.got.length
  await newKey('after rotation')
  await rx.waitFor((g) => g.slice(n0).some((x) => x.path === '/hook/rot2'), 'signed with the new secret')
  r = await as(nb.apiKey, `/v1/channels/${c.id}/config`, { method: 'PUT', json: { config: { webhook_url: 'x' } } })
  assert.is(r.status, 400)
  r = await as(other.key, `/v1/channels/${c.id}/config`, { method: 'PUT', json: { config: { url: `${rx.base}/hook/x` } } })
  assert.is(r.status, 404)
  const row = nb.services.db
  const stored = await row.selectFrom('channels').select('config').where('id', '=', c.id).executeTakeFirstOrThrow()
  assert.not.ok(stored.config.includes('hook/rot2') || stored.config.includes(rot.secret), 'config is not stored in clear')
  assert.match(stored.config, /^v1\./)
  const keyFile = join(nb.dataDir, 'channels.key')
  assert.is(statSync(keyFile).mode & 0o777, 0o600)
  assert.not.ok(readFileSync(join(nb.dataDir, 'nestbox.db')).includes(Buffer.from(rot.secret)))
  await as(nb.apiKey, `/v1/channels/${c.id}`, { method: 'DELETE' })
})

test('destinations on private addresses are refused unless configuration allows them', async () => {
  // the Telegram base URL is configuration (not checked when saved): it names this machine, which resolves to loopback
  const strict = await startTestNestbox({ set: { 'events.channels.urls.telegram': `http://${hostname()}:${new URL(rx.base).port}/telegram` } })
  try {
    for (const url of ['http://127.0.0.1:9/x', 'http://localhost:9/x', 'http://[::1]:9/x', 'http://10.1.2.3/x', 'http://169.254.169.254/latest']) {
      const r = await fetch(strict.url + '/v1/channels', { method: 'POST', headers: { 'x-api-key': strict.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'n', provider: 'webhook', config: { url }, events: ['capsule.create'] }) })
      assert.is(r.status, 400, url)
      assert.is((await r.json()).error.code, 'destination_not_allowed', url)
    }
    // a name that resolves to loopback (this machine's name, from /etc/hosts): refused when saved, and when a send connects
    const name = hostname()
    assert.ok((await lookup(name, { all: true })).every((a) => /^127\.|^::1$/.test(a.address)), `${name} resolves to loopback here`)
    const h = { 'x-api-key': strict.apiKey, 'content-type': 'application/json' }
    let r = await fetch(strict.url + '/v1/channels', { method: 'POST', headers: h, body: JSON.stringify({ name: 'n', provider: 'webhook', config: { url: `http://${name}:${new URL(rx.base).port}/hook/x` }, events: ['capsule.create'] }) })
    assert.is(r.status, 400)
    assert.is((await r.json()).error.code, 'destination_not_allowed')
    const n0 = rx.got.length
    r = await fetch(strict.url + '/v1/channels/test', { method: 'POST', headers: h, body: JSON.stringify({ provider: 'telegram', config: { bot_token: '1:abc', chat_id: '2' } }) })
    assert.is(r.status, 400)
    const e = await r.json()
    assert.is(e.error.code, 'channel_test_failed')
    assert.match(e.error.message, /resolves to a private address; refused/)
    assert.is(rx.got.length, n0, 'nothing was sent')
  } finally {
    await strict.close()
  }
})

test('queued deliveries survive a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nestbox-channels-'))
  try {
    const set = { ...rx.settings(), ...FAST, 'events.channels.maxAttempts': 50, 'events.channels.retryBaseMs': 200, 'events.channels.retryMaxMs': 400 }
    let a = await startTestNestbox({ dataDir: dir, set })
    const r = await fetch(a.url + '/v1/channels', { method: 'POST', headers: { 'x-api-key': a.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'later', provider: 'teams', config: { webhook_url: `${rx.base}/teams/restart` }, events: ['api_key.create'] }) })
    const ch = await r.json()
    rx.failAlways('teams', { status: 502 })
    await fetch(a.url + '/v1/api-keys', { method: 'POST', headers: { 'x-api-key': a.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'queued across restart' }) })
    await a.services.events.settled()
    await a.services.dispatcher.settled()
    await a.close()
    rx.failAlways('teams', null)
    const n0 = rx.got.length
    a = await startTestNestbox({ dataDir: dir, set })
    await rx.waitFor((g) => g.slice(n0).some((x) => x.path === '/teams/restart' && /queued across restart/.test(x.body.attachments[0].content.body[0].text)), 'delivered after restart')
    const got = await (await fetch(`${a.url}/v1/channels/${ch.id}`, { headers: { 'x-api-key': a.apiKey } })).json()
    assert.ok(got.delivery.delivered >= 1)
    await a.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("a deleted team's channels go with it", async () => {
  const t = await addMember(nb, 'owner')
  const c = await create({ name: 'doomed', provider: 'slack', config: { webhook_url: `${rx.base}/slack/services/doomed` }, events: ['capsule.destroy'] }, t.key)
  const r = await as(t.key, `/v1/teams/${t.teamId}`, { method: 'DELETE' })
  assert.ok(r.status === 204 || r.status === 200, `${r.status} ${await r.text()}`)
  const t0 = Date.now()
  while ((await nb.services.db.selectFrom('channels').select('id').where('id', '=', c.id).execute()).length && Date.now() - t0 < 5000) await new Promise((res) => setTimeout(res, 20))
  assert.equal(await nb.services.db.selectFrom('channels').select('id').where('team_id', '=', t.teamId).execute(), [])
})

test.run()
