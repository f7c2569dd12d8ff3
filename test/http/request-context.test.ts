/**
 * The per-request middleware's fast paths keep their guarantees: the body limit
 * still applies to chunked uploads (no Content-Length), and the request id and
 * nosniff headers reach every kind of response, set on Node's response object.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox } from '../harness.ts'

const nb = await startTestNestbox({ set: { 'http.bodyLimitMb': 1 } })

test('a small body and an empty one pass the limit', async () => {
  const small = await nb.api('/v1/me', { method: 'POST', json: { a: 1 } })
  assert.is.not(small.status, 413)
  const empty = await nb.api('/v1/me', { method: 'POST', body: '' })
  assert.is.not(empty.status, 413)
})

test('request id and nosniff on success, not-found, auth failure and HEAD', async () => {
  for (const [path, init, status] of [
    ['/health/liveliness', {}, 200],
    ['/v1/health', {}, 200],
    ['/no/such/path', {}, 404],
    ['/v1/me', { headers: { 'x-api-key': 'wrn_' + '0'.repeat(32) } }, 401],
    ['/health/liveliness', { method: 'HEAD' }, 200],
  ] as const) {
    const r = await fetch(nb.url + path, { ...init, headers: { ...('headers' in init ? init.headers : {}), 'x-request-id': `t-${status}` } })
    await r.arrayBuffer()
    assert.is(r.status, status, path)
    assert.is(r.headers.get('x-request-id'), `t-${status}`, path)
    assert.is(r.headers.get('x-content-type-options'), 'nosniff', path)
  }
})

// Last: the server answers 413 before the upload ends, which spoils that keep-alive connection for the client.
test('a chunked body over the limit gets 413, like one with Content-Length', async () => {
  const chunk = new Uint8Array(256 * 1024).fill(120)
  let sent = 0
  const body = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (sent >= 8) return ctrl.close()
      sent++
      ctrl.enqueue(chunk)
    },
  })
  const r = await nb.api('/v1/me', { method: 'PATCH', body, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit)
  assert.is(r.status, 413)
  assert.is((await r.json()).error.code, 'payload_too_large')
  assert.match(r.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/)
})

test.after(() => nb.close())
test.run()
