/**
 * aws-chunked uploads. First AWS's published SigV4 examples (fixed 2013 dates,
 * so checked in-process with that clock); then live uploads in every streaming
 * mode, signed here with the AWS SDK's own SignatureV4 (seed and chunk
 * signatures), including tampered bodies that must fail.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SignatureV4 } from '@smithy/signature-v4'
import { createHash, createHmac } from 'node:crypto'
import { request } from 'node:http'
import { decodeAwsChunked } from '../../lib/storage/s3/chunked.ts'
import { verify } from '../../lib/storage/s3/sigv4.ts'
import { NodeSha256, PRIVATE_KEY, bearer, startStorage, type StorageNestbox } from './helpers.ts'
import { Crc32cJs } from '@aws-sdk/checksums/crc'

const EXAMPLE_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
const EXAMPLE_NOW = Date.UTC(2013, 4, 24)
const sha256hex = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex')

function exampleRequest(headers: Record<string, string>, method = 'PUT', rawPath = '/examplebucket/chunkObject.txt', rawQuery = '') {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
  return { method, rawPath, rawQuery, headerValues: (n: string) => (h[n] === undefined ? [] : [h[n]]), headerNames: () => Object.keys(h) }
}
const secrets = () => [{ secret: EXAMPLE_SECRET, owner: 'example' }]

async function rejects(f: () => Promise<unknown>, re: RegExp) {
  try {
    await f()
  } catch (e) {
    assert.match((e as Error).message, re)
    return
  }
  assert.unreachable(`expected a rejection matching ${re}`)
}

async function collect(gen: AsyncIterable<Uint8Array>) {
  const parts: Uint8Array[] = []
  for await (const c of gen) parts.push(c)
  return Buffer.concat(parts)
}

function exampleBody(sigs: string[], trailer = '') {
  const a64 = Buffer.alloc(65536, 'a')
  const a1 = Buffer.alloc(1024, 'a')
  return Buffer.concat([
    Buffer.from(`10000;chunk-signature=${sigs[0]}\r\n`), a64, Buffer.from('\r\n'),
    Buffer.from(`400;chunk-signature=${sigs[1]}\r\n`), a1, Buffer.from('\r\n'),
    Buffer.from(`0;chunk-signature=${sigs[2]}\r\n${trailer}\r\n`),
  ])
}

test('AWS example: GET with header auth and a presigned URL verify; a changed signed header does not', () => {
  const get = { host: 'examplebucket.s3.amazonaws.com', range: 'bytes=0-9', 'x-amz-content-sha256': sha256hex(''), 'x-amz-date': '20130524T000000Z',
    authorization: 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41' }
  assert.is(verify(exampleRequest(get, 'GET', '/test.txt'), secrets, EXAMPLE_NOW).owner, 'example')
  assert.throws(() => verify(exampleRequest({ ...get, range: 'bytes=1-9' }, 'GET', '/test.txt'), secrets, EXAMPLE_NOW), /signature/)
  assert.throws(() => verify(exampleRequest(get, 'GET', '/test.txt'), secrets, EXAMPLE_NOW + 16 * 60_000), /too large/)
  const q = 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404'
  const host = { host: 'examplebucket.s3.amazonaws.com' }
  assert.is(verify(exampleRequest(host, 'GET', '/test.txt', q), secrets, EXAMPLE_NOW).presigned, true)
  assert.throws(() => verify(exampleRequest(host, 'GET', '/test.txt', q), secrets, EXAMPLE_NOW + 86401_000), /expired/)
  assert.throws(() => verify(exampleRequest(host, 'GET', '/test.txt', q.replace('aeeed9', '00eed9')), secrets, EXAMPLE_NOW), /signature/)
})

test('AWS example: STREAMING-AWS4-HMAC-SHA256-PAYLOAD seed and chunk signatures', async () => {
  const headers = { host: 's3.amazonaws.com', 'content-encoding': 'aws-chunked', 'content-length': '66824', 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    'x-amz-date': '20130524T000000Z', 'x-amz-decoded-content-length': '66560', 'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    authorization: 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9' }
  const v = verify(exampleRequest(headers), secrets, EXAMPLE_NOW)
  const signing = { signingKey: v.signingKey, amzDate: v.amzDate, scope: v.scope, seedSignature: v.signature }
  const sigs = ['ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648', '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497', 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9']
  const out = await collect(decodeAwsChunked([exampleBody(sigs)], { signing, trailer: false }))
  assert.ok(out.equals(Buffer.alloc(66560, 'a')))
  const tampered = exampleBody(sigs)
  tampered[66_000] = 'b'.charCodeAt(0) // inside the second chunk's data
  await rejects(() => collect(decodeAwsChunked([tampered], { signing, trailer: false })), /chunk signature/)
  const truncated = exampleBody(sigs).subarray(0, 66_000)
  await rejects(() => collect(decodeAwsChunked([truncated], { signing, trailer: false })), /ended/)
})

test('AWS example: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER with a signed crc32c trailer', async () => {
  const headers = { host: 's3.amazonaws.com', 'content-encoding': 'aws-chunked', 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
    'x-amz-date': '20130524T000000Z', 'x-amz-decoded-content-length': '66560', 'x-amz-storage-class': 'REDUCED_REDUNDANCY', 'x-amz-trailer': 'x-amz-checksum-crc32c',
    authorization: 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer,Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e' }
  const v = verify(exampleRequest(headers), secrets, EXAMPLE_NOW)
  const signing = { signingKey: v.signingKey, amzDate: v.amzDate, scope: v.scope, seedSignature: v.signature }
  const sigs = ['b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2', '1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7', '2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992']
  const trailer = 'x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n'
  let got: Record<string, string> = {}
  await collect(decodeAwsChunked([exampleBody(sigs, trailer)], { signing, trailer: true, onTrailers: (t) => (got = t) }))
  assert.equal(got, { 'x-amz-checksum-crc32c': 'sOO8/Q==' })
  const forged = exampleBody(sigs, trailer.replace('sOO8/Q==', 'AAAAAA=='))
  await rejects(() => collect(decodeAwsChunked([forged], { signing, trailer: true })), /chunk signature/)
})

// ---- live uploads, signed by the AWS SDK's SignatureV4

let nb: StorageNestbox
test.before(async () => {
  nb = await startStorage()
})
test.after(() => nb.close())

type Mode = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' | 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER' | 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'

/** PUTs `data` in `chunkSize` aws-chunked chunks; `tamper` may change the encoded body before it is sent. */
async function chunkedPut(key: string, data: Buffer, mode: Mode, o: { chunkSize?: number; crc32c?: string; tamper?: (b: Buffer) => Buffer } = {}) {
  const u = new URL(nb.url)
  const signer = new SignatureV4({ credentials: { accessKeyId: 'private', secretAccessKey: PRIVATE_KEY }, region: 'us-east-1', service: 's3', sha256: NodeSha256 as never, uriEscapePath: false, applyChecksum: false })
  const signingDate = new Date()
  const size = o.chunkSize ?? 8192
  const chunks: Buffer[] = []
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size))
  chunks.push(Buffer.alloc(0))
  const crc = new Crc32cJs()
  crc.update(data)
  const crc32c = o.crc32c ?? Buffer.from(await crc.digest()).toString('base64')
  const trailerLine = `x-amz-checksum-crc32c:${crc32c}\n`
  const signed = mode !== 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'
  const trailing = mode.endsWith('TRAILER')
  // The encoded length must be known before signing: build the body with placeholder 64-char signatures first.
  const encode = (sigs: string[], trailerSig: string) =>
    Buffer.concat([
      ...chunks.flatMap((c, i) => [Buffer.from(`${c.length.toString(16)}${signed ? `;chunk-signature=${sigs[i]}` : ''}\r\n`), c, Buffer.from(c.length ? '\r\n' : '')]),
      Buffer.from(trailing ? `${trailerLine.replace('\n', '\r\n')}${signed ? `x-amz-trailer-signature:${trailerSig}\r\n` : ''}\r\n` : '\r\n'),
    ])
  const placeholder = 'x'.repeat(64)
  const length = encode(chunks.map(() => placeholder), placeholder).length
  const headers: Record<string, string> = {
    host: u.host, 'content-encoding': 'aws-chunked', 'content-length': String(length), 'x-amz-content-sha256': mode,
    'x-amz-decoded-content-length': String(data.length), ...(trailing ? { 'x-amz-trailer': 'x-amz-checksum-crc32c' } : {}),
  }
  const req = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: `/storage/private/${key}`, query: {}, headers }, { signingDate })
  const auth = req.headers.authorization as string
  const amzDate = req.headers['x-amz-date'] as string
  const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`
  let prev = /Signature=([0-9a-f]{64})/.exec(auth)![1]
  const sigs: string[] = []
  for (const c of chunks) {
    if (!signed) break
    prev = await signer.sign(['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, prev, sha256hex(''), sha256hex(c)].join('\n'), { signingDate })
    sigs.push(prev)
  }
  const trailerSig = signed && trailing ? await signer.sign(['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, prev, sha256hex(trailerLine)].join('\n'), { signingDate }) : ''
  let body: Buffer = encode(sigs, trailerSig)
  if (o.tamper) body = o.tamper(body)
  return new Promise<{ status: number; text: string; headers: Record<string, unknown> }>((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, method: 'PUT', path: req.path, headers: req.headers as Record<string, string> }, (res) => {
      let text = ''
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }))
    })
    r.on('error', reject)
    r.end(body)
  })
}

const get = async (key: string) => {
  const r = await fetch(`${nb.url}/storage/private/${key}`, { headers: bearer(PRIVATE_KEY) })
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) }
}
const data = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i % 251))

for (const mode of ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'] as const) {
  test(`live ${mode}: stored intact; a flipped body byte is refused and nothing is stored`, async () => {
    const key = `chunked/${mode}`
    const ok = await chunkedPut(key, data, mode)
    assert.is(ok.status, 200, ok.text)
    assert.is(ok.headers.etag, `"${createHash('md5').update(data).digest('hex')}"`)
    if (mode.endsWith('TRAILER')) assert.ok(ok.headers['x-amz-checksum-crc32c'], 'trailer checksum returned')
    assert.ok((await get(key)).body.equals(data))
    const badKey = `${key}-bad`
    const flip = (b: Buffer) => {
      const i = b.indexOf('\r\n') + 2 + 100 // a byte inside the first chunk's data
      b[i] ^= 1
      return b
    }
    const bad = await chunkedPut(badKey, data, mode, { tamper: flip })
    if (mode === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER') {
      assert.is(bad.status, 400)
      assert.match(bad.text, /<Code>BadDigest<\/Code>/, 'caught by the trailing checksum')
    } else {
      assert.is(bad.status, 403)
      assert.match(bad.text, /<Code>SignatureDoesNotMatch<\/Code>/)
    }
    assert.is((await get(badKey)).status, 404)
  })
}

test('live trailer with a wrong checksum value is refused', async () => {
  const r = await chunkedPut('chunked/wrong-crc', data, 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', { crc32c: 'AAAAAA==' })
  assert.is(r.status, 400)
  assert.match(r.text, /BadDigest/)
  const s = await chunkedPut('chunked/wrong-crc', data, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', { crc32c: 'AAAAAA==' })
  assert.is(s.status, 400, 'correctly signed, but the checksum does not match the data')
  assert.is((await get('chunked/wrong-crc')).status, 404)
})

test.run()
