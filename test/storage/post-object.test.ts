/**
 * POST Object (issue 17): browser form uploads with a SigV4 POST policy made
 * by boto3's generate_presigned_post or aws-sdk-js's createPresignedPost, sent
 * as multipart/form-data by curl -F and by fetch with FormData (what a browser
 * sends), with S3's errors when the policy is violated or expired.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { HeadObjectCommand, S3ServiceException } from '@aws-sdk/client-s3'
import { createPresignedPost } from '@aws-sdk/s3-presigned-post'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { OTHER_KEY, PRIVATE_KEY, s3, startStorage, type StorageNestbox } from './helpers.ts'

const run = promisify(execFile)
let nb: StorageNestbox
let priv: ReturnType<typeof s3>
let dir: string
test.before(async () => {
  nb = await startStorage()
  priv = s3(nb, 'private', PRIVATE_KEY)
  dir = mkdtempSync(join(tmpdir(), 'nestbox-post-'))
})
test.after(async () => {
  await nb.close()
  rmSync(dir, { recursive: true, force: true })
})

type Post = { url: string; fields: Record<string, string> }

/** boto3's generate_presigned_post for `private` (or another bucket/key pair). */
async function presignPost(o: { key: string; fields?: Record<string, string>; conditions?: unknown[]; expiresIn?: number; bucket?: string; access?: string; secret?: string }): Promise<Post> {
  const script = String.raw`
import json, sys
import boto3
from botocore.config import Config
a = json.loads(sys.argv[1])
s3 = boto3.client("s3", endpoint_url=a["endpoint"], aws_access_key_id=a["access"], aws_secret_access_key=a["secret"],
                  region_name="us-east-1", config=Config(signature_version="s3v4"))
print(json.dumps(s3.generate_presigned_post(a["bucket"], a["key"], Fields=a["fields"], Conditions=a["conditions"], ExpiresIn=a["expires"])))
`
  const args = { endpoint: nb.url + '/storage', access: o.access ?? 'private', secret: o.secret ?? PRIVATE_KEY, bucket: o.bucket ?? 'private', key: o.key, fields: o.fields ?? {}, conditions: o.conditions ?? [], expires: o.expiresIn ?? 600 }
  const { stdout } = await run('/usr/bin/python3', ['-c', script, JSON.stringify(args)], { encoding: 'utf8' })
  return JSON.parse(stdout)
}

/** curl -F: the fields in order, then the file (as a browser form puts it last). */
async function curlPost(p: Post, file: { name: string; data: Buffer | string }, extra: Record<string, string> = {}) {
  const path = join(dir, file.name)
  writeFileSync(path, file.data)
  const form = Object.entries({ ...p.fields, ...extra }).flatMap(([k, v]) => ['-F', `${k}=${v}`])
  const { stdout } = await run('/usr/bin/curl', ['-s', '-o', '-', '-w', '\n%{http_code}\n%header{location}\n%header{etag}', ...form, '-F', `file=@${path}`, p.url], { encoding: 'utf8' })
  const lines = stdout.split('\n')
  const [etag, location, status] = [lines.pop(), lines.pop(), lines.pop()]
  return { status: Number(status), body: lines.join('\n'), location, etag }
}

const head = (key: string) => priv.send(new HeadObjectCommand({ Bucket: 'private', Key: key }))
async function absent(key: string) {
  try {
    await head(key)
  } catch (e) {
    assert.is((e as S3ServiceException).$metadata.httpStatusCode, 404)
    return
  }
  assert.unreachable(`${key} should not exist`)
}

test('curl -F upload with ${filename}, metadata and Content-Type under a starts-with policy: 204, stored as sent', async () => {
  const p = await presignPost({
    key: 'forms/${filename}',
    fields: { 'Content-Type': 'text/plain', 'x-amz-meta-owner': 'alice' },
    conditions: [['starts-with', '$key', 'forms/'], ['starts-with', '$Content-Type', 'text/'], { 'x-amz-meta-owner': 'alice' }, ['content-length-range', 1, 1024]],
  })
  const r = await curlPost(p, { name: 'hello.txt', data: 'hello from a form' })
  assert.is(r.status, 204, r.body)
  assert.match(r.location!, /\/storage\/private\/forms\/hello\.txt$/)
  const h = await head('forms/hello.txt')
  assert.is(h.ContentType, 'text/plain')
  assert.equal(h.Metadata, { owner: 'alice' })
  assert.is(h.ETag, r.etag)
  assert.is(h.ContentLength, 17)
})

test('success_action_status 201 answers a PostResponse document; success_action_redirect a 303 with bucket, key and etag', async () => {
  const p201 = await presignPost({ key: 'forms/201.txt', fields: { success_action_status: '201' }, conditions: [{ success_action_status: '201' }] })
  const r = await curlPost(p201, { name: 'a.txt', data: 'created' })
  assert.is(r.status, 201)
  assert.match(r.body, /<PostResponse[^>]*><Location>[^<]+\/private\/forms\/201\.txt<\/Location><Bucket>private<\/Bucket><Key>forms\/201\.txt<\/Key><ETag>(&quot;|")[0-9a-f]{32}(&quot;|")<\/ETag><\/PostResponse>/)

  const redirect = 'https://app.example/done?from=form'
  const p303 = await presignPost({ key: 'forms/r.txt', fields: { success_action_redirect: redirect }, conditions: [{ success_action_redirect: redirect }] })
  const r2 = await curlPost(p303, { name: 'r.txt', data: 'redirected' })
  assert.is(r2.status, 303)
  const loc = new URL(r2.location!)
  assert.is(loc.origin + loc.pathname, 'https://app.example/done')
  assert.is(loc.searchParams.get('from'), 'form')
  assert.is(loc.searchParams.get('bucket'), 'private')
  assert.is(loc.searchParams.get('key'), 'forms/r.txt')
  assert.is(loc.searchParams.get('etag'), (await head('forms/r.txt')).ETag)
})

test('fetch with FormData (a browser\'s encoding) uploads a binary file', async () => {
  const p = await presignPost({ key: 'forms/blob.bin', conditions: [['content-length-range', 0, 1 << 20]] })
  const form = new FormData()
  for (const [k, v] of Object.entries(p.fields)) form.append(k, v)
  const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251))
  form.append('file', new Blob([data]), 'blob.bin')
  const r = await fetch(p.url, { method: 'POST', body: form })
  assert.is(r.status, 204, await r.text())
  assert.is((await head('forms/blob.bin')).ContentLength, 70_000)
})

test('aws-sdk-js createPresignedPost: fields and conditions it signs are honoured, its size range enforced', async () => {
  const p = await createPresignedPost(priv, {
    Bucket: 'private',
    Key: 'forms/sdk-${filename}',
    Fields: { 'Content-Type': 'application/json', 'x-amz-meta-via': 'sdk' },
    Conditions: [['starts-with', '$key', 'forms/sdk-'], ['content-length-range', 1, 64], { 'Content-Type': 'application/json' }, { 'x-amz-meta-via': 'sdk' }],
    Expires: 300,
  })
  const post = async (body: string) => {
    const form = new FormData()
    for (const [k, v] of Object.entries(p.fields)) form.append(k, v)
    form.append('file', new Blob([body]), 'data.json')
    const r = await fetch(p.url, { method: 'POST', body: form })
    return { status: r.status, body: await r.text() }
  }
  assert.is((await post('{"ok":true}')).status, 204)
  const h = await head('forms/sdk-data.json')
  assert.equal([h.ContentType, h.Metadata, h.ContentLength], ['application/json', { via: 'sdk' }, 11])
  const big = await post('x'.repeat(65))
  assert.is(big.status, 400)
  assert.match(big.body, /<Code>EntityTooLarge<\/Code>/)
})

async function refused(r: { status: number; body: string }, status: number, code: string, message?: RegExp) {
  assert.is(r.status, status, r.body)
  assert.match(r.body, new RegExp(`<Code>${code}</Code>`))
  if (message) assert.match(r.body.replaceAll('&quot;', '"'), message)
}

test('policy violations: condition, extra field, size range, expiry, signature, another bucket\'s key, no file', async () => {
  const p = await presignPost({ key: 'forms/only.txt', conditions: [['content-length-range', 2, 10]] })
  await refused(await curlPost(p, { name: 'x', data: 'way more than ten bytes' }), 400, 'EntityTooLarge')
  await refused(await curlPost(p, { name: 'x', data: 'a' }), 400, 'EntityTooSmall')
  await absent('forms/only.txt')
  await refused(await curlPost({ ...p, fields: { ...p.fields, key: 'forms/elsewhere.txt' } }, { name: 'x', data: 'abc' }), 403, 'AccessDenied', /Policy Condition failed: \["eq","\$key","forms\/only.txt"\]/)
  await refused(await curlPost(p, { name: 'x', data: 'abc' }, { 'x-amz-meta-sneaky': '1' }), 403, 'AccessDenied', /Extra input fields: x-amz-meta-sneaky/)
  await refused(await curlPost({ ...p, fields: { ...p.fields, 'x-amz-signature': '0'.repeat(64) } }, { name: 'x', data: 'abc' }), 403, 'SignatureDoesNotMatch')
  await absent('forms/elsewhere.txt')

  const expired = await presignPost({ key: 'forms/late.txt', expiresIn: -60 })
  await refused(await curlPost(expired, { name: 'x', data: 'late' }), 403, 'AccessDenied', /Policy expired/)
  await absent('forms/late.txt')

  const otherKey = await presignPost({ key: 'forms/stolen.txt', access: 'other-access', secret: OTHER_KEY })
  await refused(await curlPost(otherKey, { name: 'x', data: 'nope' }), 403, 'AccessDenied')
  await absent('forms/stolen.txt')

  const ok = await presignPost({ key: 'forms/nofile.txt' })
  const form = new FormData()
  for (const [k, v] of Object.entries(ok.fields)) form.append(k, v)
  const r = await fetch(ok.url, { method: 'POST', body: form })
  await refused({ status: r.status, body: await r.text() }, 400, 'InvalidArgument', /exactly one file/)
  await refused(await curlPost({ url: ok.url, fields: {} }, { name: 'x', data: 'anonymous' }), 403, 'AccessDenied')
})

test.run()
