/**
 * Large PUTs that ask Expect: 100-continue (curl, boto3 and the AWS SDKs do for
 * large bodies): the body is taken off the connection by the receive addon and
 * hashed from the file. What a client sees must be what it saw before: the same
 * ETags, digests checked, nothing stored when an upload fails, a refused upload
 * never sent.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { SignatureV4 } from '@smithy/signature-v4'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { bearer, NodeSha256, s3, startStorage, type StorageNestbox } from './helpers.ts'

const MiB = 1024 * 1024
let nb: StorageNestbox
let dir: string
let big: Buffer
let bigFile: string
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex')
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

test.before(async () => {
  nb = await startStorage()
  dir = mkdtempSync(join(tmpdir(), 'nestbox-large-put-'))
  big = randomBytes(24 * MiB)
  bigFile = join(dir, 'big.bin')
  writeFileSync(bigFile, big)
})
test.after(async () => {
  await nb.close()
  rmSync(dir, { recursive: true, force: true })
})

/** curl as a user runs it (it asks Expect: 100-continue for large uploads); the response headers, body and what curl uploaded. */
async function curl(args: string[]): Promise<{ status: number; headers: string; body: string; uploaded: number }> {
  const out = join(dir, `out-${randomBytes(4).toString('hex')}`)
  const { stdout } = await promisify(execFile)('curl', ['-sS', '-D', '-', '-o', out, '-w', '\n%{http_code} %{size_upload}', ...args], { encoding: 'utf8', maxBuffer: 1 << 20 })
  const [status, uploaded] = stdout.trim().split('\n').at(-1)!.split(' ').map(Number)
  const body = readFileSync(out, 'utf8')
  rmSync(out)
  return { status, headers: stdout, body, uploaded }
}

const tmpFiles = () => readdirSync(join(nb.dataDir, 'storage', 'tmp'))
async function until(check: () => boolean, what: string) {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25))
  assert.ok(check(), what)
}

async function bytesOf(path: string): Promise<Buffer> {
  const r = await fetch(nb.url + path, { headers: bearer(nb.masterKey) })
  assert.is(r.status, 200, path)
  return Buffer.from(await r.arrayBuffer())
}

test('a 24 MiB PUT with curl: stored byte for byte, ETag the MD5, the connection closed after the answer', async () => {
  const r = await curl(['-T', bigFile, '-H', `authorization: Bearer ${nb.masterKey}`, `${nb.url}/storage/private/large/a.bin`])
  assert.is(r.status, 200, r.body)
  assert.match(r.headers, /HTTP\/1.1 100 Continue/)
  assert.match(r.headers, new RegExp(`etag: "${md5(big)}"`, 'i'))
  assert.match(r.headers, /connection: close/i)
  assert.is(r.uploaded, big.length)
  assert.is(sha256(await bytesOf('/storage/private/large/a.bin')), sha256(big))
  assert.equal(tmpFiles(), [])
})

test('three large PUTs at once are each stored whole', async () => {
  const files = [0, 1, 2].map((i) => {
    const data = randomBytes(12 * MiB)
    const file = join(dir, `at-once-${i}.bin`)
    writeFileSync(file, data)
    return { data, file, key: `/storage/private/large/at-once-${i}.bin` }
  })
  const answers = await Promise.all(files.map((f) => curl(['-T', f.file, '-H', `authorization: Bearer ${nb.masterKey}`, `${nb.url}${f.key}`])))
  for (const [i, f] of files.entries()) {
    assert.is(answers[i].status, 200, answers[i].body)
    assert.match(answers[i].headers, new RegExp(`etag: "${md5(f.data)}"`, 'i'))
    assert.is(sha256(await bytesOf(f.key)), sha256(f.data))
  }
})

test('a refused large PUT is answered before the body is sent', async () => {
  const r = await curl(['-T', bigFile, '-H', 'authorization: Bearer not-a-key', `${nb.url}/storage/private/large/refused.bin`])
  assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${r.body}`)
  assert.not.match(r.headers, /100 Continue/)
  assert.is(r.uploaded, 0)
  assert.is((await fetch(`${nb.url}/storage/private/large/refused.bin`, { headers: bearer(nb.masterKey) })).status, 404)
})

test('S3 presigned PUTs: Content-MD5 and a signed SHA-256 are checked on the taken body; a mismatch stores nothing', async () => {
  const signer = new SignatureV4({ service: 's3', uriEscapePath: false, region: 'us-east-1', sha256: NodeSha256 as never, credentials: { accessKeyId: 'nestbox-master', secretAccessKey: nb.masterKey } })
  const presign = async (path: string, payload: string) => {
    const u = new URL(nb.url + path)
    const s = await signer.presign({ method: 'PUT', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: u.pathname, query: {}, headers: { host: u.host, 'x-amz-content-sha256': payload } }, { expiresIn: 600 })
    return `${nb.url}${u.pathname}?${new URLSearchParams(s.query as Record<string, string>)}`
  }
  const wrongMd5 = createHash('md5').update('something else').digest('base64')
  const bad = await curl(['-T', bigFile, '-H', `content-md5: ${wrongMd5}`, await presign('/storage/private/large/md5.bin', 'UNSIGNED-PAYLOAD')])
  assert.is(bad.status, 400)
  assert.match(bad.body, /<Code>BadDigest<\/Code>/)
  const goodMd5 = createHash('md5').update(big).digest('base64')
  const good = await curl(['-T', bigFile, '-H', `content-md5: ${goodMd5}`, await presign('/storage/private/large/md5.bin', 'UNSIGNED-PAYLOAD')])
  assert.is(good.status, 200, good.body)

  const signedUrl = await presign('/storage/private/large/signed.bin', sha256(big))
  const other = join(dir, 'other.bin')
  writeFileSync(other, Buffer.concat([big.subarray(0, big.length - 1), Buffer.from([big[big.length - 1] ^ 1])]))
  const mismatch = await curl(['-T', other, signedUrl])
  assert.is(mismatch.status, 400)
  assert.match(mismatch.body, /<Code>XAmzContentSHA256Mismatch<\/Code>/)
  assert.is((await fetch(`${nb.url}/storage/private/large/signed.bin`, { headers: bearer(nb.masterKey) })).status, 404)
  const signed = await curl(['-T', bigFile, signedUrl])
  assert.is(signed.status, 200, signed.body)
  assert.is(sha256(await bytesOf('/storage/private/large/signed.bin')), sha256(big))
  assert.equal(tmpFiles(), [])
})

test('a client that hangs up halfway leaves nothing behind, and the next upload is fine', async () => {
  const u = new URL(nb.url)
  const sock = connect(Number(u.port), u.hostname)
  await new Promise<void>((r) => sock.once('connect', () => r()))
  sock.write(`PUT /storage/private/large/cut.bin HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${nb.masterKey}\r\nContent-Length: ${big.length}\r\nExpect: 100-continue\r\n\r\n`)
  const head = await new Promise<string>((r) => sock.once('data', (d) => r(d.toString())))
  assert.match(head, /^HTTP\/1.1 100 Continue/)
  await new Promise<void>((r) => sock.write(big.subarray(0, 10 * MiB), () => r()))
  await until(() => tmpFiles().length === 1, 'the upload is under way')
  sock.destroy()
  await until(() => tmpFiles().length === 0, 'the temp file is removed')
  assert.is((await fetch(`${nb.url}/storage/private/large/cut.bin`, { headers: bearer(nb.masterKey) })).status, 404)
  const again = await curl(['-T', bigFile, '-H', `authorization: Bearer ${nb.masterKey}`, `${nb.url}/storage/private/large/cut.bin`])
  assert.is(again.status, 200, again.body)
})

test('a body that ends early (the client half-closes) is answered IncompleteBody, and nothing is stored', async () => {
  const u = new URL(nb.url)
  const sock = connect(Number(u.port), u.hostname)
  await new Promise<void>((r) => sock.once('connect', () => r()))
  sock.write(`PUT /storage/private/large/short.bin HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${nb.masterKey}\r\nContent-Length: ${big.length}\r\nExpect: 100-continue\r\n\r\n`)
  let answer = ''
  sock.on('data', (d) => (answer += d.toString()))
  await until(() => answer.includes('100 Continue'), 'the 100 Continue')
  sock.end(big.subarray(0, 9 * MiB))
  await new Promise((r) => sock.once('close', r))
  assert.match(answer, /HTTP\/1.1 400 /)
  assert.match(answer, /IncompleteBody/)
  assert.is((await fetch(`${nb.url}/storage/private/large/short.bin`, { headers: bearer(nb.masterKey) })).status, 404)
  await until(() => tmpFiles().length === 0, 'the temp file is removed')
})

test('boto3 put_object (Expect, signed payload) and the AWS SDK (a checksum, read by Node) store the same bytes', async () => {
  const script = `
import sys, boto3, hashlib
from botocore.config import Config
c = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="nestbox-master", aws_secret_access_key=sys.argv[2], region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
data = open(sys.argv[3], "rb").read()
r = c.put_object(Bucket="private", Key="large/boto3.bin", Body=data)
got = c.get_object(Bucket="private", Key="large/boto3.bin")["Body"].read()
print(r["ETag"], hashlib.sha256(got).hexdigest())
`
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', script, nb.url + '/storage', nb.masterKey, bigFile], { encoding: 'utf8' })
  assert.is(stdout.trim(), `"${md5(big)}" ${sha256(big)}`)

  const sdk = s3(nb, 'nestbox-master', nb.masterKey)
  const put = await sdk.send(new PutObjectCommand({ Bucket: 'private', Key: 'large/sdk.bin', Body: big, ChecksumAlgorithm: 'CRC32' }))
  assert.is(put.ETag, `"${md5(big)}"`)
  const got = await sdk.send(new GetObjectCommand({ Bucket: 'private', Key: 'large/sdk.bin' }))
  assert.is(sha256(Buffer.from(await got.Body!.transformToByteArray())), sha256(big))
})

test.run()
