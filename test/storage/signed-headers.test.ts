/**
 * Attack tests for SigV4: an x-amz-* header the signer did not sign must not
 * change what a request does (issue 9 §2), and a copy needs read access to
 * its source bucket on every path.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { CopyObjectCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCopyCommand, S3ServiceException } from '@aws-sdk/client-s3'
import { SignatureV4 } from '@smithy/signature-v4'
import { NodeSha256, OTHER_KEY, PRIVATE_KEY, s3, startStorage, type StorageNestbox } from './helpers.ts'

let nb: StorageNestbox
let master: ReturnType<typeof s3>
let signer: SignatureV4
test.before(async () => {
  nb = await startStorage()
  master = s3(nb, 'nestbox-master', nb.masterKey)
  signer = new SignatureV4({ service: 's3', uriEscapePath: false, region: 'us-east-1', sha256: NodeSha256 as never, credentials: { accessKeyId: 'nestbox-master', secretAccessKey: nb.masterKey } })
  await s3(nb, 'private', PRIVATE_KEY).send(new PutObjectCommand({ Bucket: 'private', Key: 'secret.txt', Body: 'top secret' }))
})
test.after(() => nb.close())

/**
 * A presigned URL as @aws-sdk/s3-request-presigner makes it with @smithy/signature-v4:
 * UNSIGNED-PAYLOAD, and the x-amz-* headers given here hoisted into the query (or signed, when unhoistable).
 */
async function presign(method: string, path: string, headers: Record<string, string> = {}, o: { unhoistable?: string[] } = {}) {
  const u = new URL(nb.url + path)
  const signed = await signer.presign(
    { method, protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: u.pathname, query: {}, headers: { host: u.host, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', ...headers } },
    { expiresIn: 600, unhoistableHeaders: new Set(o.unhoistable ?? []) },
  )
  const q = new URLSearchParams(signed.query as Record<string, string>).toString()
  return `${nb.url}${u.pathname}?${q}`
}

/** A header-signed request (Authorization header), as an SDK would send it. */
async function headerSigned(method: string, path: string, headers: Record<string, string>, body = '') {
  const u = new URL(nb.url + path)
  const { createHash } = await import('node:crypto')
  const req = await signer.sign({
    method,
    protocol: 'http:',
    hostname: u.hostname,
    port: Number(u.port),
    path: u.pathname,
    query: {},
    headers: { host: u.host, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'), ...headers },
    body,
  })
  return req.headers as Record<string, string>
}

const anonGet = (path: string) => fetch(nb.url + path)

async function refusedUnsigned(r: Response, header: string) {
  assert.is(r.status, 403)
  const body = await r.text()
  assert.match(body, /<Code>AccessDenied<\/Code>/)
  assert.match(body, /headers present in the request which were not signed/)
  assert.match(body, new RegExp(`<HeadersNotSigned>${header}</HeadersNotSigned>`))
}

test('presigned PUT + injected x-amz-copy-source: refused, nothing copied, the secret stays private', async () => {
  const url = await presign('PUT', '/storage/uploads/inbox/u.bin')
  const attack = await fetch(url, { method: 'PUT', headers: { 'x-amz-copy-source': 'private/secret.txt' } })
  await refusedUnsigned(attack, 'x-amz-copy-source')
  const leaked = await anonGet('/storage/uploads/inbox/u.bin')
  assert.is(leaked.status, 404, 'uploads is public: the copy would be readable by anyone')
  await leaked.body?.cancel()
  // The same URL still does what it was made for.
  const ok = await fetch(url, { method: 'PUT', body: 'an honest upload' })
  assert.is(ok.status, 200)
  assert.is(await (await anonGet('/storage/uploads/inbox/u.bin')).text(), 'an honest upload')
})

test('presigned PUT: unsigned metadata, ACL and checksum-algorithm headers are refused too', async () => {
  const url = await presign('PUT', '/storage/uploads/inbox/m.bin')
  for (const [h, v] of [['x-amz-meta-owner', 'mallory'], ['x-amz-acl', 'public-read'], ['x-amz-checksum-algorithm', 'SHA256'], ['X-Amz-Copy-Source', '/private/secret.txt']]) {
    const r = await fetch(url, { method: 'PUT', headers: { [h]: v }, body: 'x' })
    await refusedUnsigned(r, h.toLowerCase())
  }
  const gone = await anonGet('/storage/uploads/inbox/m.bin')
  assert.is(gone.status, 404)
  await gone.body?.cancel()
})

test('presigned PUT: x-amz-* headers hoisted into the signed query take effect; signed (unhoisted) headers must be sent as signed', async () => {
  const url = await presign('PUT', '/storage/uploads/inbox/h.bin', { 'x-amz-meta-owner': 'alice' })
  assert.match(url, /x-amz-meta-owner=alice/)
  assert.is((await fetch(url, { method: 'PUT', body: 'hoisted' })).status, 200)
  const h = await master.send(new HeadObjectCommand({ Bucket: 'uploads', Key: 'inbox/h.bin' }))
  assert.equal(h.Metadata, { owner: 'alice' })
  // The same header sent alongside with the same value is what the signer meant; another value is not.
  assert.is((await fetch(url, { method: 'PUT', headers: { 'x-amz-meta-owner': 'alice' }, body: 'again' })).status, 200)
  await refusedUnsigned(await fetch(url, { method: 'PUT', headers: { 'x-amz-meta-owner': 'mallory' }, body: 'x' }), 'x-amz-meta-owner')

  const signedHeader = await presign('PUT', '/storage/uploads/inbox/s.bin', { 'x-amz-meta-team': 'blue' }, { unhoistable: ['x-amz-meta-team'] })
  assert.match(signedHeader, /X-Amz-SignedHeaders=host%3Bx-amz-meta-team/)
  assert.is((await fetch(signedHeader, { method: 'PUT', headers: { 'x-amz-meta-team': 'blue' }, body: 's' })).status, 200)
  const s = await fetch(signedHeader, { method: 'PUT', headers: { 'x-amz-meta-team': 'red' }, body: 's' })
  assert.is(s.status, 403)
  assert.match(await s.text(), /<Code>SignatureDoesNotMatch<\/Code>/)
})

test('a presigned URL may sign the payload (x-amz-content-sha256 in the query, either spelling): other bytes are refused', async () => {
  const { createHash } = await import('node:crypto')
  const body = 'exactly these bytes'
  const u = new URL(nb.url + '/storage/uploads/inbox/signed-body.txt')
  const r = await signer.presign(
    { method: 'PUT', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: u.pathname, query: {}, headers: { host: u.host, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex') } },
    { expiresIn: 600 },
  )
  const url = `${nb.url}${u.pathname}?${new URLSearchParams(r.query as Record<string, string>)}`
  assert.match(url, /[?&]x-amz-content-sha256=[0-9a-f]{64}/)
  const bad = await fetch(url, { method: 'PUT', body: 'other bytes' })
  assert.is(bad.status, 400)
  assert.match(await bad.text(), /<Code>XAmzContentSHA256Mismatch<\/Code>/)
  assert.is((await fetch(url, { method: 'PUT', body })).status, 200)
  assert.is(await (await anonGet('/storage/uploads/inbox/signed-body.txt')).text(), body)
})

test('header-signed request + x-amz-copy-source added after signing: refused; signed, the copy works', async () => {
  const headers = await headerSigned('PUT', '/storage/uploads/inbox/c.bin', {})
  const attack = await fetch(nb.url + '/storage/uploads/inbox/c.bin', { method: 'PUT', headers: { ...headers, 'x-amz-copy-source': 'private/secret.txt' } })
  await refusedUnsigned(attack, 'x-amz-copy-source')
  const leaked = await anonGet('/storage/uploads/inbox/c.bin')
  assert.is(leaked.status, 404)
  await leaked.body?.cancel()
  // Several unsigned headers are all named.
  const two = await fetch(nb.url + '/storage/uploads/inbox/c.bin', { method: 'PUT', headers: { ...headers, 'x-amz-meta-a': '1', 'x-amz-tagging': 'a=b' } })
  assert.is(two.status, 403)
  assert.match(await two.text(), /<HeadersNotSigned>x-amz-meta-a, x-amz-tagging<\/HeadersNotSigned>/)

  const legit = await headerSigned('PUT', '/storage/private/copy-of-secret.txt', { 'x-amz-copy-source': 'private/secret.txt' })
  const r = await fetch(nb.url + '/storage/private/copy-of-secret.txt', { method: 'PUT', headers: legit })
  assert.is(r.status, 200, await r.text())
})

test('a bucket key for one bucket cannot copy from a bucket it cannot read (CopyObject, UploadPartCopy)', async () => {
  const other = s3(nb, 'other-access', OTHER_KEY)
  const denied = async (p: Promise<unknown>) => {
    try {
      await p
    } catch (e) {
      assert.is((e as S3ServiceException).name, 'AccessDenied')
      return
    }
    assert.unreachable('expected AccessDenied')
  }
  await denied(other.send(new CopyObjectCommand({ Bucket: 'other', Key: 'stolen.txt', CopySource: 'private/secret.txt' })))
  await denied(other.send(new CopyObjectCommand({ Bucket: 'other', Key: 'stolen.txt', CopySource: '/private/secret.txt?versionId=null' })))
  const { UploadId } = await other.send(new CreateMultipartUploadCommand({ Bucket: 'other', Key: 'stolen.bin' }))
  await denied(other.send(new UploadPartCopyCommand({ Bucket: 'other', Key: 'stolen.bin', UploadId, PartNumber: 1, CopySource: 'private/secret.txt' })))
  try {
    await other.send(new GetObjectCommand({ Bucket: 'other', Key: 'stolen.txt' }))
    assert.unreachable('nothing was copied')
  } catch (e) {
    assert.is((e as S3ServiceException).name, 'NoSuchKey')
  }
  // A public bucket is readable by anyone, so copying from it is allowed.
  await master.send(new PutObjectCommand({ Bucket: 'uploads', Key: 'pub.txt', Body: 'public' }))
  await other.send(new CopyObjectCommand({ Bucket: 'other', Key: 'from-public.txt', CopySource: 'uploads/pub.txt' }))
})

test.run()
