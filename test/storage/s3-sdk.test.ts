import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand,
  ListBucketsCommand, ListMultipartUploadsCommand, ListObjectsCommand, ListObjectsV2Command, ListPartsCommand, PutObjectCommand,
  UploadPartCommand, UploadPartCopyCommand, S3ServiceException,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { OTHER_KEY, PRIVATE_KEY, s3, startStorage, type StorageNestbox } from './helpers.ts'

let nb: StorageNestbox
let priv: ReturnType<typeof s3>
let master: ReturnType<typeof s3>
test.before(async () => {
  nb = await startStorage()
  priv = s3(nb, 'private', PRIVATE_KEY)
  master = s3(nb, nb.bootstrap.storage_master_access_key, nb.masterKey)
})
test.after(() => nb.close())

/** Expects an S3 error; `name` null = only the status matters (HEAD and 304 answers carry no body to name them). */
async function fails(p: Promise<unknown>, name: string | null, status?: number) {
  try {
    await p
  } catch (e) {
    const err = e as S3ServiceException
    if (name !== null) assert.is(err.name, name, `expected ${name}, got ${err.name}: ${err.message}`)
    if (status) assert.is(err.$metadata.httpStatusCode, status)
    return
  }
  assert.unreachable(`expected ${name ?? status}`)
}
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex')

test('PutObject from a buffer and a stream with the SDK default checksums; GetObject validates them', async () => {
  const buf = randomBytes(300_000)
  const a = await priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'sdk/buf.bin', Body: buf, Metadata: { owner: 'tests', 'x-y': 'z' }, ContentType: 'application/x-test', CacheControl: 'max-age=60' }))
  assert.is(a.ETag, `"${md5(buf)}"`)
  assert.ok(a.ChecksumCRC32, 'the CRC32 the SDK sent is verified and returned')
  const stream = Readable.from([randomBytes(70_000), randomBytes(70_000), randomBytes(10)])
  const b = await priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'sdk/stream.bin', Body: stream, ContentLength: 140_010 }))
  assert.ok(b.ChecksumCRC32)

  const g = await priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'sdk/buf.bin' }))
  const got = Buffer.from(await g.Body!.transformToByteArray())
  assert.ok(got.equals(buf))
  assert.is(g.ChecksumCRC32, a.ChecksumCRC32)
  assert.equal(g.Metadata, { owner: 'tests', 'x-y': 'z' })
  assert.is(g.ContentType, 'application/x-test')
  assert.is(g.CacheControl, 'max-age=60')
  const gs = await priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'sdk/stream.bin' }))
  assert.is((await gs.Body!.transformToByteArray()).length, 140_010)

  const h = await priv.send(new HeadObjectCommand({ Bucket: 'private', Key: 'sdk/buf.bin' }))
  assert.is(h.ContentLength, 300_000)
  assert.is(h.ETag, a.ETag)
})

test('other checksum algorithms are verified; a wrong declared checksum is refused', async () => {
  for (const alg of ['CRC32C', 'SHA1', 'SHA256', 'CRC64NVME'] as const) {
    const r = await priv.send(new PutObjectCommand({ Bucket: 'private', Key: `sdk/sum-${alg}`, Body: Buffer.from(`checksum ${alg}`), ChecksumAlgorithm: alg }))
    assert.ok(r[`Checksum${alg}`], alg)
    const g = await priv.send(new GetObjectCommand({ Bucket: 'private', Key: `sdk/sum-${alg}`, ChecksumMode: 'ENABLED' }))
    assert.is(await g.Body!.transformToString(), `checksum ${alg}`)
    assert.is(g[`Checksum${alg}`], r[`Checksum${alg}`])
  }
  await fails(priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'sdk/bad', Body: 'data', ChecksumSHA256: createHash('sha256').update('other').digest('base64') })), 'BadDigest', 400)
  await fails(priv.send(new HeadObjectCommand({ Bucket: 'private', Key: 'sdk/bad' })), 'NotFound', 404)
  await fails(priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'sdk/bad', Body: 'data', ContentMD5: createHash('md5').update('nope').digest('base64') })), 'BadDigest', 400)
})

test('ListObjects v1 and v2: prefix, delimiter, continuation, start-after, max-keys, encoding-type=url', async () => {
  const keys = ['l/a.txt', 'l/b.txt', 'l/c/1.txt', 'l/c/2.txt', 'l/d/1.txt', 'l/e f+g.txt', 'l/z.txt']
  for (const k of keys) await priv.send(new PutObjectCommand({ Bucket: 'private', Key: k, Body: k }))
  const all = await priv.send(new ListObjectsV2Command({ Bucket: 'private', Prefix: 'l/' }))
  assert.equal(all.Contents!.map((o) => o.Key), [...keys].sort())
  assert.is(all.KeyCount, keys.length)

  const grouped = await priv.send(new ListObjectsV2Command({ Bucket: 'private', Prefix: 'l/', Delimiter: '/' }))
  assert.equal(grouped.Contents!.map((o) => o.Key), ['l/a.txt', 'l/b.txt', 'l/e f+g.txt', 'l/z.txt'])
  assert.equal(grouped.CommonPrefixes!.map((p) => p.Prefix), ['l/c/', 'l/d/'])

  const seen: string[] = []
  let token: string | undefined
  do {
    const page = await priv.send(new ListObjectsV2Command({ Bucket: 'private', Prefix: 'l/', Delimiter: '/', MaxKeys: 2, ContinuationToken: token }))
    seen.push(...(page.Contents ?? []).map((o) => o.Key!), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!))
    assert.ok((page.KeyCount ?? 0) <= 2)
    token = page.NextContinuationToken
  } while (token)
  assert.equal(seen.sort(), ['l/a.txt', 'l/b.txt', 'l/c/', 'l/d/', 'l/e f+g.txt', 'l/z.txt'])

  const after = await priv.send(new ListObjectsV2Command({ Bucket: 'private', Prefix: 'l/', StartAfter: 'l/c/2.txt' }))
  assert.equal(after.Contents!.map((o) => o.Key), ['l/d/1.txt', 'l/e f+g.txt', 'l/z.txt'])

  const v1 = await priv.send(new ListObjectsCommand({ Bucket: 'private', Prefix: 'l/', MaxKeys: 3 }))
  assert.is(v1.IsTruncated, true)
  const v1b = await priv.send(new ListObjectsCommand({ Bucket: 'private', Prefix: 'l/', Marker: v1.Contents!.at(-1)!.Key }))
  assert.equal([...v1.Contents!, ...v1b.Contents!].map((o) => o.Key), [...keys].sort())

  const enc = await priv.send(new ListObjectsV2Command({ Bucket: 'private', Prefix: 'l/e', EncodingType: 'url' }))
  assert.equal(enc.Contents!.map((o) => o.Key), ['l/e%20f%2Bg.txt'])
  await fails(priv.send(new ListObjectsV2Command({ Bucket: 'private', ContinuationToken: 'garbage!' })), 'InvalidArgument', 400)
})

test('CopyObject (COPY and REPLACE metadata), DeleteObject, DeleteObjects without Content-MD5', async () => {
  await priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'cp/src', Body: 'copy me', Metadata: { a: '1' } }))
  const c = await priv.send(new CopyObjectCommand({ Bucket: 'private', Key: 'cp/dst', CopySource: 'private/cp/src' }))
  assert.is(c.CopyObjectResult!.ETag, `"${md5('copy me')}"`)
  const h = await priv.send(new HeadObjectCommand({ Bucket: 'private', Key: 'cp/dst' }))
  assert.equal(h.Metadata, { a: '1' })
  await priv.send(new CopyObjectCommand({ Bucket: 'private', Key: 'cp/dst', CopySource: 'private/cp/dst', MetadataDirective: 'REPLACE', Metadata: { b: '2' }, ContentType: 'text/x-new' }))
  const h2 = await priv.send(new HeadObjectCommand({ Bucket: 'private', Key: 'cp/dst' }))
  assert.equal(h2.Metadata, { b: '2' })
  assert.is(h2.ContentType, 'text/x-new')
  await fails(priv.send(new CopyObjectCommand({ Bucket: 'private', Key: 'cp/dst', CopySource: 'private/cp/dst' })), 'InvalidRequest', 400)
  await fails(priv.send(new CopyObjectCommand({ Bucket: 'private', Key: 'cp/x', CopySource: 'other/anything' })), 'AccessDenied', 403)
  await fails(priv.send(new CopyObjectCommand({ Bucket: 'private', Key: 'cp/x', CopySource: 'private/cp/src', CopySourceIfMatch: '"nope"' })), 'PreconditionFailed', 412)

  await priv.send(new DeleteObjectCommand({ Bucket: 'private', Key: 'cp/src' }))
  await fails(priv.send(new HeadObjectCommand({ Bucket: 'private', Key: 'cp/src' })), 'NotFound', 404)
  const d = await priv.send(deleteMany(['cp/dst', 'cp/never', 'l/../x']))
  assert.equal(d.Deleted!.map((x) => x.Key).sort(), ['cp/dst', 'cp/never'])
  assert.equal(d.Errors!.map((x) => [x.Key, x.Code]), [['l/../x', 'InvalidArgument']])
})

const deleteMany = (keys: string[]) => new DeleteObjectsCommand({ Bucket: 'private', Delete: { Objects: keys.map((Key) => ({ Key })) } })

test('Range GET (206/416) and conditional requests', async () => {
  await priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'r.txt', Body: 'abcdefghij' }))
  const r = await priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'r.txt', Range: 'bytes=3-6' }))
  assert.is(r.$metadata.httpStatusCode, 206)
  assert.is(await r.Body!.transformToString(), 'defg')
  assert.is(r.ContentRange, 'bytes 3-6/10')
  await fails(priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'r.txt', Range: 'bytes=10-' })), 'InvalidRange', 416)
  const etag = `"${md5('abcdefghij')}"`
  await fails(priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'r.txt', IfNoneMatch: etag })), null, 304)
  await fails(priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'r.txt', IfMatch: '"other"' })), 'PreconditionFailed', 412)
  await fails(priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'r.txt', IfUnmodifiedSince: new Date(Date.now() - 3600_000) })), 'PreconditionFailed', 412)
  await fails(priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'r.txt', IfModifiedSince: new Date(Date.now() + 3600_000) })), null, 304)
  const ok = await priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'r.txt', IfMatch: etag, IfModifiedSince: new Date(Date.now() - 3600_000) }))
  assert.is(await ok.Body!.transformToString(), 'abcdefghij')
  await fails(priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'r.txt', Body: 'x', IfNoneMatch: '*' })), 'PreconditionFailed', 412)
  await priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'r.txt', Body: 'replaced', IfMatch: etag }))
  await fails(priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'r.txt', Body: 'again', IfMatch: etag })), 'PreconditionFailed', 412)
})

test('multipart with lib-storage Upload (default checksums): parts, composite checksum, ETag -N', async () => {
  const part = 5 * 1024 * 1024
  const chunks = [randomBytes(part), randomBytes(part), randomBytes(1234)]
  const up = new Upload({ client: priv, params: { Bucket: 'private', Key: 'mp/lib.bin', Body: Readable.from(chunks) }, partSize: part, queueSize: 2 })
  const done = await up.done()
  const whole = Buffer.concat(chunks)
  const expected = createHash('md5').update(Buffer.concat(chunks.map((c) => createHash('md5').update(c).digest()))).digest('hex')
  assert.is(done.ETag, `"${expected}-3"`)
  const g = await priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'mp/lib.bin' }))
  assert.ok(Buffer.from(await g.Body!.transformToByteArray()).equals(whole))
  assert.match(g.ChecksumCRC32 ?? '', /-3$/)
})

test('multipart by hand: list parts and uploads, EntityTooSmall, UploadPartCopy, idempotent Complete, Abort', async () => {
  const part1 = randomBytes(5 * 1024 * 1024)
  const { UploadId } = await priv.send(new CreateMultipartUploadCommand({ Bucket: 'private', Key: 'mp/hand.bin', ContentType: 'application/x-hand' }))
  const p1 = await priv.send(new UploadPartCommand({ Bucket: 'private', Key: 'mp/hand.bin', UploadId, PartNumber: 1, Body: part1 }))
  await priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'mp/src.txt', Body: '0123456789' }))
  const p2 = await priv.send(new UploadPartCopyCommand({ Bucket: 'private', Key: 'mp/hand.bin', UploadId, PartNumber: 2, CopySource: 'private/mp/src.txt', CopySourceRange: 'bytes=2-5' }))
  const parts = await priv.send(new ListPartsCommand({ Bucket: 'private', Key: 'mp/hand.bin', UploadId }))
  assert.equal(parts.Parts!.map((p) => [p.PartNumber, p.Size]), [[1, part1.length], [2, 4]])
  const uploads = await priv.send(new ListMultipartUploadsCommand({ Bucket: 'private' }))
  assert.ok(uploads.Uploads!.some((u) => u.UploadId === UploadId && u.Key === 'mp/hand.bin'))

  const small = await priv.send(new CreateMultipartUploadCommand({ Bucket: 'private', Key: 'mp/small.bin' }))
  const s1 = await priv.send(new UploadPartCommand({ Bucket: 'private', Key: 'mp/small.bin', UploadId: small.UploadId, PartNumber: 1, Body: 'tiny' }))
  const s2 = await priv.send(new UploadPartCommand({ Bucket: 'private', Key: 'mp/small.bin', UploadId: small.UploadId, PartNumber: 2, Body: 'tiny' }))
  await fails(priv.send(new CompleteMultipartUploadCommand({ Bucket: 'private', Key: 'mp/small.bin', UploadId: small.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: s1.ETag }, { PartNumber: 2, ETag: s2.ETag }] } })), 'EntityTooSmall', 400)
  await fails(priv.send(new CompleteMultipartUploadCommand({ Bucket: 'private', Key: 'mp/small.bin', UploadId: small.UploadId, MultipartUpload: { Parts: [{ PartNumber: 2, ETag: s2.ETag }, { PartNumber: 1, ETag: s1.ETag }] } })), 'InvalidPartOrder', 400)
  await fails(priv.send(new CompleteMultipartUploadCommand({ Bucket: 'private', Key: 'mp/small.bin', UploadId: small.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"0000"' }] } })), 'InvalidPart', 400)
  await priv.send(new AbortMultipartUploadCommand({ Bucket: 'private', Key: 'mp/small.bin', UploadId: small.UploadId }))
  await fails(priv.send(new ListPartsCommand({ Bucket: 'private', Key: 'mp/small.bin', UploadId: small.UploadId })), 'NoSuchUpload', 404)

  const complete = () => priv.send(new CompleteMultipartUploadCommand({ Bucket: 'private', Key: 'mp/hand.bin', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.CopyPartResult!.ETag }] } }))
  const c1 = await complete()
  const c2 = await complete()
  assert.is(c2.ETag, c1.ETag, 'a retried Complete answers the same')
  const g = await priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'mp/hand.bin' }))
  const body = Buffer.from(await g.Body!.transformToByteArray())
  assert.ok(body.equals(Buffer.concat([part1, Buffer.from('2345')])))
  assert.is(g.ContentType, 'application/x-hand')
})

test('buckets: ListBuckets per key, Create/Head/Delete with the master key only', async () => {
  const own = await priv.send(new ListBucketsCommand({}))
  assert.equal(own.Buckets!.map((b) => b.Name), ['private'])
  const all = await master.send(new ListBucketsCommand({}))
  assert.equal(all.Buckets!.map((b) => b.Name), ['other', 'private', 'tiny', 'uploads'])
  await fails(priv.send(new CreateBucketCommand({ Bucket: 'made-by-key' })), 'AccessDenied', 403)
  await master.send(new CreateBucketCommand({ Bucket: 'made-by-master' }))
  await fails(master.send(new CreateBucketCommand({ Bucket: 'made-by-master' })), 'BucketAlreadyOwnedByYou', 409)
  await fails(master.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })), 'InvalidBucketName', 400)
  await master.send(new HeadBucketCommand({ Bucket: 'made-by-master' }))
  await fails(priv.send(new HeadBucketCommand({ Bucket: 'made-by-master' })), null, 403)
  await master.send(new PutObjectCommand({ Bucket: 'made-by-master', Key: 'k', Body: 'v' }))
  await fails(master.send(new DeleteBucketCommand({ Bucket: 'made-by-master' })), 'BucketNotEmpty', 409)
  await master.send(new DeleteObjectCommand({ Bucket: 'made-by-master', Key: 'k' }))
  await master.send(new DeleteBucketCommand({ Bucket: 'made-by-master' }))
  await fails(master.send(new HeadBucketCommand({ Bucket: 'made-by-master' })), 'NotFound', 404)
  await fails(master.send(new DeleteBucketCommand({ Bucket: 'private' })), 'OperationAborted', 409)
})

test('auth failures: bad signature, unknown key, another bucket\'s key, anonymous on private', async () => {
  await fails(s3(nb, 'private', 'not-the-secret').send(new GetObjectCommand({ Bucket: 'private', Key: 'r.txt' })), 'SignatureDoesNotMatch', 403)
  await fails(s3(nb, 'nobody', PRIVATE_KEY).send(new ListObjectsV2Command({ Bucket: 'private' })), 'InvalidAccessKeyId', 403)
  const other = s3(nb, 'other-access', OTHER_KEY)
  await fails(other.send(new GetObjectCommand({ Bucket: 'private', Key: 'r.txt' })), 'AccessDenied', 403)
  await fails(other.send(new PutObjectCommand({ Bucket: 'private', Key: 'evil', Body: 'x' })), 'AccessDenied', 403)
  await fails(other.send(new ListObjectsV2Command({ Bucket: 'private' })), 'AccessDenied', 403)
  await other.send(new PutObjectCommand({ Bucket: 'other', Key: 'mine', Body: 'ok' }))
  const withMaster = s3(nb, 'private', nb.masterKey)
  assert.is(await (await withMaster.send(new GetObjectCommand({ Bucket: 'other', Key: 'mine' }))).Body!.transformToString(), 'ok', 'the master key works with any bucket access key')
  const anon = await fetch(nb.url + '/storage/private/r.txt?x-id=GetObject')
  assert.is(anon.status, 403)
  assert.match(await anon.text(), /<Code>AccessDenied<\/Code>/)
})

test('virtual-hosted style on a dedicated listener and on /storage', async () => {
  const vh = await startStorage({ 'storage.virtualHostDomain': 's3.test', 'storage.s3Listener.enabled': true, 'storage.s3Listener.host': '127.0.0.1', 'storage.s3Listener.port': 0 })
  try {
    const { Agent } = await import('node:http')
    const { NodeHttpHandler } = await import('@smithy/node-http-handler')
    // Every *.s3.test name resolves to loopback, as a wildcard DNS record would.
    const lookup = (_h: string, opts: unknown, cb: (...a: unknown[]) => void) => ((opts as { all?: boolean }).all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4))
    const handler = new NodeHttpHandler({ httpAgent: new Agent({ lookup } as never) })
    const listenerUrl = vh.services.storage.s3ListenerUrl()!
    const port = new URL(listenerUrl).port
    const root = new (await import('@aws-sdk/client-s3')).S3Client({ endpoint: `http://s3.test:${port}`, region: 'us-east-1', forcePathStyle: false, credentials: { accessKeyId: 'private', secretAccessKey: PRIVATE_KEY }, requestHandler: handler })
    await root.send(new PutObjectCommand({ Bucket: 'private', Key: 'vh/a.txt', Body: 'virtual' }))
    assert.is(await (await root.send(new GetObjectCommand({ Bucket: 'private', Key: 'vh/a.txt' }))).Body!.transformToString(), 'virtual')
    const pathStyle = s3({ url: listenerUrl }, 'private', PRIVATE_KEY, { endpoint: listenerUrl })
    const l = await pathStyle.send(new ListObjectsV2Command({ Bucket: 'private', Prefix: 'vh/' }))
    assert.equal(l.Contents!.map((o) => o.Key), ['vh/a.txt'])
    const err = await fetch(listenerUrl + '/private/vh/a.txt')
    assert.is(err.status, 403)
    assert.match(await err.text(), /<Error><Code>AccessDenied/)
    assert.ok(err.headers.get('x-request-id'))
    const prefixed = new (await import('@aws-sdk/client-s3')).S3Client({ endpoint: `http://s3.test:${vh.port}/storage`, region: 'us-east-1', forcePathStyle: false, credentials: { accessKeyId: 'private', secretAccessKey: PRIVATE_KEY }, requestHandler: handler })
    assert.is(await (await prefixed.send(new GetObjectCommand({ Bucket: 'private', Key: 'vh/a.txt' }))).Body!.transformToString(), 'virtual')
  } finally {
    await vh.close()
  }
})

test.run()
