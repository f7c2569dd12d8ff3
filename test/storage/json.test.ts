import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { bearer, OTHER_KEY, PRIVATE_KEY, rawRequest, startStorage, TINY_KEY, type StorageNestbox } from './helpers.ts'

let nb: StorageNestbox
test.before(async () => {
  nb = await startStorage()
})
test.after(() => nb.close())

const put = (path: string, body: BodyInit, key: string, headers: Record<string, string> = {}) =>
  fetch(nb.url + '/storage/' + path, { method: 'PUT', body, headers: { ...bearer(key), ...headers } })

test('health, request id and nosniff on every storage response', async () => {
  const r = await fetch(nb.url + '/storage/health')
  assert.equal(await r.json(), { status: 'ok' })
  for (const res of [r, await fetch(nb.url + '/storage/nope/x'), await fetch(nb.url + '/storage/uploads?list-type=2')]) {
    assert.ok(res.headers.get('x-request-id'))
    assert.is(res.headers.get('x-content-type-options'), 'nosniff')
  }
})

test('first start generated the master key and the uploads key into bootstrap.txt', () => {
  assert.match(nb.masterKey, /^[\w-]{32}$/)
  assert.match(nb.uploadsKey, /^[\w-]{32}$/)
  assert.is(nb.bootstrap.storage_bucket_uploads_access_key, 'uploads')
  assert.is(nb.bootstrap.storage_master_access_key, 'nestbox-master', 'S3 tools need the access key id too')
})

test('PUT/GET/HEAD/DELETE with ETag = MD5, Last-Modified, detected Content-Type', async () => {
  const text = 'hello storage'
  const r = await put('uploads/docs/hello.txt', text, nb.uploadsKey, { 'content-type': 'application/x-www-form-urlencoded' })
  assert.is(r.status, 200)
  const md5 = createHash('md5').update(text).digest('hex')
  assert.is(r.headers.get('etag'), `"${md5}"`)
  const j = await r.json()
  assert.is(j.size, text.length)
  assert.is(j.content_type, 'text/plain', 'detected from content, not the client header')

  const g = await fetch(nb.url + '/storage/uploads/docs/hello.txt')
  assert.is(g.status, 200)
  assert.is(await g.text(), text)
  assert.is(g.headers.get('etag'), `"${md5}"`)
  assert.is(g.headers.get('content-type'), 'text/plain')
  assert.is(g.headers.get('content-length'), String(text.length))
  assert.ok(Date.parse(g.headers.get('last-modified')!) > Date.now() - 60_000)

  const h = await fetch(nb.url + '/storage/uploads/docs/hello.txt', { method: 'HEAD' })
  assert.is(h.status, 200)
  assert.is(h.headers.get('content-length'), String(text.length))
  assert.is(await h.text(), '')

  const png = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(64)])
  await put('uploads/img.bin', png, nb.uploadsKey)
  assert.is((await fetch(nb.url + '/storage/uploads/img.bin', { method: 'HEAD' })).headers.get('content-type'), 'image/png')
  await put('uploads/data.json', '{"a":1}', nb.uploadsKey)
  assert.is((await fetch(nb.url + '/storage/uploads/data.json', { method: 'HEAD' })).headers.get('content-type'), 'application/json')

  const html = await put('uploads/page.html', '<html><script>alert(1)</script></html>', nb.uploadsKey)
  assert.is(html.status, 200)
  const hg = await fetch(nb.url + '/storage/uploads/page.html')
  assert.is(hg.headers.get('content-type'), 'text/html')
  assert.is(hg.headers.get('content-security-policy'), 'sandbox', 'active content is served sandboxed')

  const d = await fetch(nb.url + '/storage/uploads/docs/hello.txt', { method: 'DELETE', headers: bearer(nb.uploadsKey) })
  assert.is(d.status, 204)
  assert.is((await fetch(nb.url + '/storage/uploads/docs/hello.txt')).status, 404)
  const again = await fetch(nb.url + '/storage/uploads/docs/hello.txt', { method: 'DELETE', headers: bearer(nb.uploadsKey) })
  assert.is(again.status, 204, '204 even when absent')
})

test('writes need the bucket key or the master key; public reads need none', async () => {
  assert.is((await put('uploads/anon.txt', 'x', 'wrong-key')).status, 404)
  assert.is((await fetch(nb.url + '/storage/uploads/anon.txt', { method: 'PUT', body: 'x' })).status, 404)
  assert.is((await put('uploads/other.txt', 'x', OTHER_KEY)).status, 404, "another bucket's key")
  assert.is((await put('uploads/master.txt', 'by master', nb.masterKey)).status, 200)
  assert.is(await (await fetch(nb.url + '/storage/uploads/master.txt')).text(), 'by master')
  assert.is((await fetch(nb.url + '/storage/uploads/master.txt', { method: 'DELETE' })).status, 404)
})

test('private buckets: unauthorised and missing are the same 404', async () => {
  assert.is((await put('private/secret.txt', 'top secret', PRIVATE_KEY)).status, 200)
  const ok = await fetch(nb.url + '/storage/private/secret.txt', { headers: bearer(PRIVATE_KEY) })
  assert.is(await ok.text(), 'top secret')
  const anon = await fetch(nb.url + '/storage/private/secret.txt')
  const wrong = await fetch(nb.url + '/storage/private/secret.txt', { headers: bearer(OTHER_KEY) })
  const missingKey = await fetch(nb.url + '/storage/private/nope.txt', { headers: bearer(PRIVATE_KEY) })
  const missingBucket = await fetch(nb.url + '/storage/nobucket/secret.txt', { headers: bearer(PRIVATE_KEY) })
  const bodies = []
  for (const r of [anon, wrong, missingKey, missingBucket]) {
    assert.is(r.status, 404)
    bodies.push(await r.text())
  }
  assert.is(new Set(bodies).size, 1, 'identical bodies: existence does not leak')
  assert.equal(JSON.parse(bodies[0]), { error: 'not found', code: 'not_found' })
  assert.is((await fetch(nb.url + '/storage/private')).status, 404, 'listing a private bucket anonymously')
})

test('list buckets: master sees all, a bucket key its own, anonymous nothing', async () => {
  const all = await (await fetch(nb.url + '/storage/', { headers: bearer(nb.masterKey) })).json()
  assert.equal(all.buckets.map((b: { name: string }) => b.name).sort(), ['other', 'private', 'tiny', 'uploads'])
  const own = await (await fetch(nb.url + '/storage/', { headers: bearer(PRIVATE_KEY) })).json()
  assert.equal(own.buckets.map((b: { name: string }) => b.name), ['private'])
  assert.is(own.buckets[0].public, false)
  assert.is((await fetch(nb.url + '/storage/')).status, 404)
})

test('list objects with prefix and max-keys', async () => {
  for (const k of ['list/a.txt', 'list/b.txt', 'list/c/d.txt', 'listing.txt']) await put(`uploads/${k}`, k, nb.uploadsKey)
  const r = await (await fetch(nb.url + '/storage/uploads?prefix=list/')).json()
  assert.equal(r.objects.map((o: { key: string }) => o.key), ['list/a.txt', 'list/b.txt', 'list/c/d.txt'])
  assert.is(r.objects[0].etag, createHash('md5').update('list/a.txt').digest('hex'))
  const p = await (await fetch(nb.url + '/storage/uploads?prefix=list&max-keys=2')).json()
  assert.is(p.objects.length, 2)
  assert.is(p.is_truncated, true)
  const rest = await (await fetch(nb.url + `/storage/uploads?prefix=list&after=${encodeURIComponent(p.next_after)}`)).json()
  assert.equal(rest.objects.map((o: { key: string }) => o.key), ['list/c/d.txt', 'listing.txt'])
  assert.is((await fetch(nb.url + '/storage/uploads?max-keys=abc')).status, 400)
})

test('413 over the bucket limit, nothing stored', async () => {
  const big = Buffer.alloc(1024 * 1024 + 1, 7)
  const r = await put('tiny/big.bin', big, TINY_KEY)
  assert.is(r.status, 413)
  assert.is((await fetch(nb.url + '/storage/tiny/big.bin', { headers: bearer(TINY_KEY) })).status, 404)
  // Without a Content-Length the limit is enforced while streaming.
  const stream = new ReadableStream({
    start(c) {
      for (let i = 0; i < 3; i++) c.enqueue(new Uint8Array(512 * 1024))
      c.close()
    },
  })
  const s = await fetch(nb.url + '/storage/tiny/stream.bin', { method: 'PUT', body: stream, headers: bearer(TINY_KEY), duplex: 'half' } as RequestInit)
  assert.is(s.status, 413)
  assert.is((await put('tiny/ok.bin', Buffer.alloc(1024 * 1024, 1), TINY_KEY)).status, 200)
})

test('400 on path traversal', async () => {
  for (const path of ['/storage/uploads/../private/secret.txt', '/storage/uploads/a/./b', '/storage/uploads/%2e%2e/x', '/storage/uploads/a/..']) {
    const r = await rawRequest(nb.url, 'PUT', path, bearer(nb.uploadsKey))
    assert.is(r.status, 400, path)
    assert.match(r.body, /path segments/)
  }
  assert.is((await rawRequest(nb.url, 'GET', '/storage/uploads/../private/secret.txt')).status, 400)
})

test('Range and conditional GETs', async () => {
  await put('uploads/range.txt', '0123456789', nb.uploadsKey)
  const r = await fetch(nb.url + '/storage/uploads/range.txt', { headers: { range: 'bytes=2-5' } })
  assert.is(r.status, 206)
  assert.is(await r.text(), '2345')
  assert.is(r.headers.get('content-range'), 'bytes 2-5/10')
  assert.is(await (await fetch(nb.url + '/storage/uploads/range.txt', { headers: { range: 'bytes=-3' } })).text(), '789')
  const bad = await fetch(nb.url + '/storage/uploads/range.txt', { headers: { range: 'bytes=20-' } })
  assert.is(bad.status, 416)
  assert.is(bad.headers.get('content-range'), 'bytes */10')
  const etag = r.headers.get('etag')!
  assert.is((await fetch(nb.url + '/storage/uploads/range.txt', { headers: { 'if-none-match': etag } })).status, 304)
  assert.is((await fetch(nb.url + '/storage/uploads/range.txt', { headers: { 'if-match': '"nope"' } })).status, 412)
  const lm = r.headers.get('last-modified')!
  assert.is((await fetch(nb.url + '/storage/uploads/range.txt', { headers: { 'if-modified-since': lm } })).status, 304)
})

test('presign: public buckets give the plain URL, private ones a signed URL that curl can use', async () => {
  const pub = await fetch(nb.url + '/storage/presign/uploads/range.txt?expires=3600', { method: 'POST', headers: bearer(nb.uploadsKey) })
  assert.equal(await pub.json(), { url: `${nb.url}/storage/uploads/range.txt`, expires: null })

  const priv = await (await fetch(nb.url + '/storage/presign/private/secret.txt', { method: 'POST', headers: bearer(PRIVATE_KEY) })).json()
  assert.is(priv.expires, 3600, 'default expiry')
  assert.match(priv.url, /X-Amz-Algorithm=AWS4-HMAC-SHA256.*X-Amz-Signature=[0-9a-f]{64}/)
  const { stdout } = await promisify(execFile)('curl', ['-s', '-w', '\n%{http_code}', priv.url], { encoding: 'utf8' })
  assert.is(stdout, 'top secret\n200')

  const tampered = priv.url.replace('secret.txt', 'secret.txx')
  const t = await fetch(tampered)
  assert.is(t.status, 403)
  assert.match(await t.text(), /<Code>SignatureDoesNotMatch<\/Code>/)
  const longer = priv.url.replace('X-Amz-Expires=3600', 'X-Amz-Expires=7200')
  assert.is((await fetch(longer)).status, 403)

  for (const e of ['0', '604801', 'abc']) {
    const r = await fetch(nb.url + `/storage/presign/private/secret.txt?expires=${e}`, { method: 'POST', headers: bearer(PRIVATE_KEY) })
    assert.is(r.status, 400, `expires=${e}`)
  }
  assert.is((await fetch(nb.url + '/storage/presign/private/secret.txt', { method: 'POST' })).status, 404)
  assert.is((await fetch(nb.url + '/storage/presign/private/secret.txt', { method: 'POST', headers: bearer(OTHER_KEY) })).status, 404)
  const m = await (await fetch(nb.url + '/storage/presign/private/secret.txt?expires=604800', { method: 'POST', headers: bearer(nb.masterKey) })).json()
  assert.is(m.expires, 604800)
  assert.is(await (await fetch(m.url)).text(), 'top secret')
})

test('an expired presigned URL answers 403', async () => {
  const p = await (await fetch(nb.url + '/storage/presign/private/secret.txt?expires=1', { method: 'POST', headers: bearer(PRIVATE_KEY) })).json()
  await new Promise((r) => setTimeout(r, 2100))
  const r = await fetch(p.url)
  assert.is(r.status, 403)
  assert.match(await r.text(), /<Code>AccessDenied<\/Code><Message>Request has expired/)
})

test.run()
