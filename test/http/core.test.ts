import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'

let nb: TestNestbox
test.before(async () => {
  nb = await startTestNestbox({ set: { 'http.bodyLimitMb': 1 } })
})
test.after(() => nb.close())

test('health endpoints answer without credentials', async () => {
  const live = await fetch(nb.url + '/health/liveliness')
  assert.is(live.status, 200)
  assert.is(await live.json(), "I'm alive!")
  const api = await fetch(nb.url + '/api/health')
  const body = await api.json()
  assert.is(body.ok, true)
  assert.type(body.version, 'string')
  const v1 = await fetch(nb.url + '/v1/health')
  assert.equal((await v1.json()).database, 'ok')
})

test('every response has a request id and nosniff; a sane client id is echoed', async () => {
  const a = await fetch(nb.url + '/health/liveliness')
  assert.match(a.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/)
  assert.is(a.headers.get('x-content-type-options'), 'nosniff')
  const b = await fetch(nb.url + '/health/liveliness', { headers: { 'X-Request-Id': 'my-trace.42' } })
  assert.is(b.headers.get('x-request-id'), 'my-trace.42')
  const c = await fetch(nb.url + '/health/liveliness', { headers: { 'X-Request-Id': 'bad id with spaces' } })
  assert.is.not(c.headers.get('x-request-id'), 'bad id with spaces')
})

test('/v1 errors use the Wrenn envelope with the request id', async () => {
  const r = await fetch(nb.url + '/v1/does-not-exist', { headers: { 'x-request-id': 'rid-1' } })
  assert.is(r.status, 404)
  assert.equal(await r.json(), { error: { code: 'not_found', message: 'no such endpoint', request_id: 'rid-1' } })
  assert.is(r.headers.get('x-content-type-options'), 'nosniff')
})

test('API key auth: good key, bad key, no key', async () => {
  const ok = await nb.api('/v1/me')
  assert.is(ok.status, 200)
  const me = await ok.json()
  assert.is(me.email, 'admin@nestbox.local')
  assert.is(me.is_admin, true)
  const bearer = await fetch(nb.url + '/v1/me', { headers: { authorization: `Bearer ${nb.apiKey}` } })
  assert.is(bearer.status, 200)
  const bad = await fetch(nb.url + '/v1/me', { headers: { 'x-api-key': 'wrn_' + '0'.repeat(32) } })
  assert.is(bad.status, 401)
  assert.is((await bad.json()).error.code, 'invalid_api_key')
  const none = await fetch(nb.url + '/v1/me')
  assert.is(none.status, 401)
})

test('bodies over the limit get 413 in the surface envelope', async () => {
  const r = await nb.api('/v1/me', { method: 'PATCH', body: 'x'.repeat(2 * 1024 * 1024), headers: { 'content-type': 'application/json' } })
  assert.is(r.status, 413)
  assert.is((await r.json()).error.code, 'payload_too_large')
})

test.run()
