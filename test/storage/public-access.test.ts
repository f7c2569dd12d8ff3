/**
 * Requests without credentials (issue 17): anonymous S3 clients read and list
 * public-read buckets and are refused writes with S3's AccessDenied; presigned
 * URLs with an X-Amz-Expires AWS would refuse get AWS's errors.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3'
import { SignatureV4 } from '@smithy/signature-v4'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { NodeSha256, PRIVATE_KEY, s3, startStorage, type StorageNestbox } from './helpers.ts'

let nb: StorageNestbox
let anon: S3Client
test.before(async () => {
  nb = await startStorage()
  const master = s3(nb, 'nestbox-master', nb.masterKey)
  await master.send(new PutObjectCommand({ Bucket: 'uploads', Key: 'pub/a.txt', Body: 'public a' }))
  await master.send(new PutObjectCommand({ Bucket: 'private', Key: 'priv.txt', Body: 'private' }))
  // The SDK's way to send unsigned requests: a signer that leaves the request as it is.
  anon = new S3Client({ endpoint: nb.url + '/storage', region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: '', secretAccessKey: '' }, signer: { sign: async (r) => r }, maxAttempts: 1 })
})
test.after(() => nb.close())

async function fails(p: Promise<unknown>, name: string | null, status: number) {
  try {
    await p
  } catch (e) {
    if (name) assert.is((e as S3ServiceException).name, name, (e as Error).message)
    assert.is((e as S3ServiceException).$metadata.httpStatusCode, status)
    return
  }
  assert.unreachable(`expected ${name ?? status}`)
}

test('aws-sdk-js without credentials: GET, HEAD and list a public-read bucket; writes and private buckets are AccessDenied', async () => {
  assert.is(await (await anon.send(new GetObjectCommand({ Bucket: 'uploads', Key: 'pub/a.txt' }))).Body!.transformToString(), 'public a')
  assert.is((await anon.send(new HeadObjectCommand({ Bucket: 'uploads', Key: 'pub/a.txt' }))).ContentLength, 8)
  assert.equal((await anon.send(new ListObjectsV2Command({ Bucket: 'uploads', Prefix: 'pub/' }))).Contents!.map((c) => c.Key), ['pub/a.txt'])
  assert.equal((await anon.send(new ListObjectsCommand({ Bucket: 'uploads', Prefix: 'pub/' }))).Contents!.map((c) => c.Key), ['pub/a.txt'])
  await fails(anon.send(new GetObjectCommand({ Bucket: 'uploads', Key: 'pub/none' })), 'NoSuchKey', 404)
  await fails(anon.send(new PutObjectCommand({ Bucket: 'uploads', Key: 'pub/b.txt', Body: 'nope' })), 'AccessDenied', 403)
  await fails(anon.send(new DeleteObjectCommand({ Bucket: 'uploads', Key: 'pub/a.txt' })), 'AccessDenied', 403)
  await fails(anon.send(new GetObjectCommand({ Bucket: 'private', Key: 'priv.txt' })), 'AccessDenied', 403)
  await fails(anon.send(new ListObjectsV2Command({ Bucket: 'private' })), 'AccessDenied', 403)
  assert.is(await (await anon.send(new GetObjectCommand({ Bucket: 'uploads', Key: 'pub/a.txt' }))).Body!.transformToString(), 'public a', 'still there')
})

const BOTO = String.raw`
import json, sys
import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
def code(f):
    try:
        f()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]
out = {
    "get": s3.get_object(Bucket="uploads", Key="pub/a.txt")["Body"].read().decode(),
    "head": s3.head_object(Bucket="uploads", Key="pub/a.txt")["ContentLength"],
    "list": [o["Key"] for o in s3.list_objects_v2(Bucket="uploads", Prefix="pub/")["Contents"]],
    "list_v1": [o["Key"] for o in s3.list_objects(Bucket="uploads", Prefix="pub/")["Contents"]],
    "missing": code(lambda: s3.get_object(Bucket="uploads", Key="pub/none")),
    "put": code(lambda: s3.put_object(Bucket="uploads", Key="pub/b.txt", Body=b"nope")),
    "delete": code(lambda: s3.delete_object(Bucket="uploads", Key="pub/a.txt")),
    "private": code(lambda: s3.get_object(Bucket="private", Key="priv.txt")),
}
print(json.dumps(out))
`

test('boto3 with UNSIGNED: the same reads work, the same writes are AccessDenied', async () => {
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', BOTO, nb.url + '/storage'], { encoding: 'utf8' })
  assert.equal(JSON.parse(stdout), { get: 'public a', head: 8, list: ['pub/a.txt'], list_v1: ['pub/a.txt'], missing: 'NoSuchKey', put: 'AccessDenied', delete: 'AccessDenied', private: 'AccessDenied' })
})

test('presigned X-Amz-Expires: 0 has expired, negative, above a week or not a number get AWS\'s errors', async () => {
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', uriEscapePath: false, sha256: NodeSha256 as never, credentials: { accessKeyId: 'private', secretAccessKey: PRIVATE_KEY } })
  const u = new URL(nb.url + '/storage/private/priv.txt')
  const url = async (expiresIn: number) => {
    const r = await signer.presign({ method: 'GET', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: u.pathname, query: {}, headers: { host: u.host, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' } }, { expiresIn })
    return `${nb.url}${u.pathname}?${new URLSearchParams(r.query as Record<string, string>)}`
  }
  const ok = await fetch(await url(60))
  assert.is(await ok.text(), 'private')
  const zero = await fetch(await url(0))
  assert.is(zero.status, 403)
  const body = await zero.text()
  assert.match(body, /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message><X-Amz-Expires>0<\/X-Amz-Expires>/)
  const week = await url(604800)
  assert.is((await fetch(week)).status, 200)
  for (const [v, msg] of [['-1', 'X-Amz-Expires must be non-negative'], ['604801', 'X-Amz-Expires must be less than a week'], ['ten', 'X-Amz-Expires should be a number']]) {
    const r = await fetch(week.replace('X-Amz-Expires=604800', `X-Amz-Expires=${v}`))
    assert.is(r.status, 400, v)
    const t = await r.text()
    assert.match(t, /<Code>AuthorizationQueryParametersError<\/Code>/)
    assert.ok(t.includes(msg), t)
  }
})

const BOTO_EXPIRES = String.raw`
import json, sys, urllib.request, urllib.error
import boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="private", aws_secret_access_key=sys.argv[2],
                  region_name="us-east-1", config=Config(signature_version="s3v4"))
def fetch(expires):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "private", "Key": "priv.txt"}, ExpiresIn=expires)
    try:
        return [200, urllib.request.urlopen(url).read().decode()]
    except urllib.error.HTTPError as e:
        return [e.code, e.read().decode()]
# (boto3 itself refuses to sign ExpiresIn=0; the SigV4 test above covers it)
print(json.dumps({"ok": fetch(60), "week": fetch(604800), "over": fetch(604801)}))
`

test('boto3 presigned URLs: a week works, past a week is refused', async () => {
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', BOTO_EXPIRES, nb.url + '/storage', PRIVATE_KEY], { encoding: 'utf8' })
  const r = JSON.parse(stdout)
  assert.equal(r.ok, [200, 'private'])
  assert.equal(r.week, [200, 'private'])
  assert.is(r.over[0], 400)
  assert.match(r.over[1], /<Code>AuthorizationQueryParametersError<\/Code>/)
})

test.run()
