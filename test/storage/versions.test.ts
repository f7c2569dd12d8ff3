/**
 * Versioning as a never-versioned S3 bucket answers it (issue 17):
 * ListObjectVersions, versionId=null on GET/HEAD/DELETE and DeleteObjects,
 * GetBucketVersioning; and DeleteBucket aborting unfinished multipart uploads.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetBucketVersioningCommand,
  GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectVersionsCommand, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3'
import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { PRIVATE_KEY, s3, fails, startStorage, type StorageNestbox } from './helpers.ts'

let nb: StorageNestbox
let priv: ReturnType<typeof s3>
let master: ReturnType<typeof s3>
test.before(async () => {
  nb = await startStorage()
  priv = s3(nb, 'private', PRIVATE_KEY)
  master = s3(nb, 'nestbox-master', nb.masterKey)
})
test.after(() => nb.close())

test('aws-sdk-js: ListObjectVersions pages by key/version-id markers; versionId=null reads and deletes', async () => {
  const keys = ['v/a', 'v/b', 'v/c/1', 'v/c/2', 'v/d']
  for (const k of keys) await priv.send(new PutObjectCommand({ Bucket: 'private', Key: k, Body: k }))
  const all = await priv.send(new ListObjectVersionsCommand({ Bucket: 'private', Prefix: 'v/' }))
  assert.equal(all.Versions!.map((v) => [v.Key, v.VersionId, v.IsLatest, v.Size]), keys.map((k) => [k, 'null', true, k.length]))
  assert.is(all.IsTruncated, false)

  const seen: string[] = []
  let km: string | undefined
  let vm: string | undefined
  do {
    const page = await priv.send(new ListObjectVersionsCommand({ Bucket: 'private', Prefix: 'v/', Delimiter: '/', MaxKeys: 2, KeyMarker: km, VersionIdMarker: vm }))
    seen.push(...(page.Versions ?? []).map((v) => v.Key!), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!))
    km = page.IsTruncated ? page.NextKeyMarker : undefined
    vm = page.IsTruncated ? page.NextVersionIdMarker : undefined
  } while (km)
  assert.equal(seen.sort(), ['v/a', 'v/b', 'v/c/', 'v/d'])
  await fails(priv.send(new ListObjectVersionsCommand({ Bucket: 'private', VersionIdMarker: 'null' })), 'InvalidArgument', 400)

  const versioning = await priv.send(new GetBucketVersioningCommand({ Bucket: 'private' }))
  assert.is(versioning.Status, undefined, 'never enabled')

  const g = await priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'v/a', VersionId: 'null' }))
  assert.is(await g.Body!.transformToString(), 'v/a')
  assert.is((await priv.send(new HeadObjectCommand({ Bucket: 'private', Key: 'v/b', VersionId: 'null' }))).ContentLength, 3)
  await fails(priv.send(new GetObjectCommand({ Bucket: 'private', Key: 'v/a', VersionId: '3HL4kqtJlcpXroDTDmJ' })), 'InvalidArgument', 400)
  const d = await priv.send(new DeleteObjectCommand({ Bucket: 'private', Key: 'v/a', VersionId: 'null' }))
  assert.is(d.VersionId, 'null')
  await fails(priv.send(new HeadObjectCommand({ Bucket: 'private', Key: 'v/a' })), 'NotFound', 404)

  // The "empty a bucket" idiom: list versions, delete them by (key, version id).
  const left = await priv.send(new ListObjectVersionsCommand({ Bucket: 'private', Prefix: 'v/' }))
  const r = await priv.send(new DeleteObjectsCommand({ Bucket: 'private', Delete: { Objects: [...left.Versions!.map((v) => ({ Key: v.Key!, VersionId: v.VersionId })), { Key: 'v/b', VersionId: 'other' }] } }))
  assert.equal(r.Deleted!.map((x) => [x.Key, x.VersionId]), left.Versions!.map((v) => [v.Key, 'null']))
  assert.equal(r.Errors!.map((e) => [e.Key, e.VersionId, e.Code]), [['v/b', 'other', 'NoSuchVersion']])
  assert.is((await priv.send(new ListObjectVersionsCommand({ Bucket: 'private', Prefix: 'v/' }))).Versions, undefined)
})

test('DeleteBucket with only unfinished multipart uploads aborts them and deletes the bucket', async () => {
  await master.send(new CreateBucketCommand({ Bucket: 'half-done' }))
  const { UploadId } = await master.send(new CreateMultipartUploadCommand({ Bucket: 'half-done', Key: 'big.bin' }))
  await master.send(new UploadPartCommand({ Bucket: 'half-done', Key: 'big.bin', UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 7) }))
  const files = () => readdirSync(join(nb.dataDir, 'storage'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length
  const before = files()
  await master.send(new DeleteBucketCommand({ Bucket: 'half-done' }))
  await fails(master.send(new HeadBucketCommand({ Bucket: 'half-done' })), 'NotFound', 404)
  assert.is(files(), before - 1, 'the part file is gone')
  await master.send(new CreateBucketCommand({ Bucket: 'half-done' }))
  assert.is((await master.send(new ListMultipartUploadsCommand({ Bucket: 'half-done' }))).Uploads, undefined, 'the upload did not survive into a new bucket of the same name')
  // An object still keeps a bucket.
  await master.send(new PutObjectCommand({ Bucket: 'half-done', Key: 'k', Body: 'v' }))
  await fails(master.send(new DeleteBucketCommand({ Bucket: 'half-done' })), 'BucketNotEmpty', 409)
})

const BOTO = String.raw`
import json, sys
import boto3
from botocore.config import Config
endpoint, key = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=endpoint, aws_access_key_id="private", aws_secret_access_key=key, region_name="us-east-1",
          config=Config(signature_version="s3v4", retries={"max_attempts": 1}))
s3 = boto3.client("s3", **kw)
out = {}
for i in range(7):
    s3.put_object(Bucket="private", Key="bv/%d" % i, Body=b"x")
pages = s3.get_paginator("list_object_versions").paginate(Bucket="private", Prefix="bv/", PaginationConfig={"PageSize": 3})
out["versions"] = [[v["Key"], v["VersionId"], v["IsLatest"]] for p in pages for v in p.get("Versions", [])]
out["versioning"] = {k: v for k, v in s3.get_bucket_versioning(Bucket="private").items() if k != "ResponseMetadata"}
# boto3's resource idiom for emptying a bucket, used by test harnesses.
boto3.resource("s3", **kw).Bucket("private").object_versions.filter(Prefix="bv/").delete()
out["left"] = s3.list_objects_v2(Bucket="private", Prefix="bv/").get("KeyCount")
print(json.dumps(out))
`

test('boto3: list_object_versions paginator, get_bucket_versioning, object_versions.delete()', async () => {
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', BOTO, nb.url + '/storage', PRIVATE_KEY], { encoding: 'utf8' })
  const r = JSON.parse(stdout)
  assert.equal(r.versions, [0, 1, 2, 3, 4, 5, 6].map((i) => [`bv/${i}`, 'null', true]))
  assert.equal(r.versioning, {})
  assert.is(r.left, 0)
})

test.run()
