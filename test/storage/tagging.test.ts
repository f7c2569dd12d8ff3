/** Object tagging, GetObjectAttributes and reads by part number (issue 17), with aws-sdk-js and boto3. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectTaggingCommand, GetBucketTaggingCommand, GetObjectAttributesCommand,
  GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, PutObjectCommand, PutObjectTaggingCommand, UploadPartCommand,
} from '@aws-sdk/client-s3'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { OTHER_KEY, PRIVATE_KEY, s3, fails, startStorage, type StorageNestbox } from './helpers.ts'

let nb: StorageNestbox
let priv: ReturnType<typeof s3>
test.before(async () => {
  nb = await startStorage()
  priv = s3(nb, 'private', PRIVATE_KEY)
})
test.after(() => nb.close())

const tagsOf = async (Key: string) => (await priv.send(new GetObjectTaggingCommand({ Bucket: 'private', Key }))).TagSet!.map((t) => [t.Key, t.Value])

test('x-amz-tagging on PUT, Get/Put/Delete ObjectTagging, tag count on GET, S3\'s limits', async () => {
  await priv.send(new PutObjectCommand({ Bucket: 'private', Key: 't/a.txt', Body: 'a', Tagging: 'project=nestbox&owner=two words&empty=' }))
  assert.equal(await tagsOf('t/a.txt'), [['project', 'nestbox'], ['owner', 'two words'], ['empty', '']])
  assert.is((await priv.send(new GetObjectCommand({ Bucket: 'private', Key: 't/a.txt' }))).TagCount, 3)
  await priv.send(new PutObjectTaggingCommand({ Bucket: 'private', Key: 't/a.txt', Tagging: { TagSet: [{ Key: 'stage', Value: 'prod' }, { Key: 'ünï:/=+-@.', Value: 'ok' }] } }))
  assert.equal(await tagsOf('t/a.txt'), [['stage', 'prod'], ['ünï:/=+-@.', 'ok']])
  await priv.send(new DeleteObjectTaggingCommand({ Bucket: 'private', Key: 't/a.txt' }))
  assert.equal(await tagsOf('t/a.txt'), [])
  assert.is((await priv.send(new GetObjectCommand({ Bucket: 'private', Key: 't/a.txt' }))).TagCount, undefined)

  const eleven = Array.from({ length: 11 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }))
  await fails(priv.send(new PutObjectTaggingCommand({ Bucket: 'private', Key: 't/a.txt', Tagging: { TagSet: eleven } })), 'BadRequest', 400)
  await fails(priv.send(new PutObjectTaggingCommand({ Bucket: 'private', Key: 't/a.txt', Tagging: { TagSet: [{ Key: 'a', Value: '1' }, { Key: 'a', Value: '2' }] } })), 'InvalidTag', 400)
  await fails(priv.send(new PutObjectTaggingCommand({ Bucket: 'private', Key: 't/a.txt', Tagging: { TagSet: [{ Key: 'aws:x', Value: '1' }] } })), 'InvalidTag', 400)
  await fails(priv.send(new PutObjectCommand({ Bucket: 'private', Key: 't/bad.txt', Body: 'x', Tagging: 'a=<b>' })), 'InvalidTag', 400)
  await fails(priv.send(new PutObjectTaggingCommand({ Bucket: 'private', Key: 't/none', Tagging: { TagSet: [] } })), 'NoSuchKey', 404)
  await fails(s3(nb, 'other-access', OTHER_KEY).send(new PutObjectTaggingCommand({ Bucket: 'private', Key: 't/a.txt', Tagging: { TagSet: [] } })), 'AccessDenied', 403)
  await fails(priv.send(new GetBucketTaggingCommand({ Bucket: 'private' })), 'NoSuchTagSet', 404)
})

test('tags follow CopyObject (COPY keeps, REPLACE sets) and CreateMultipartUpload', async () => {
  await priv.send(new PutObjectCommand({ Bucket: 'private', Key: 't/src', Body: 'src', Tagging: 'keep=me' }))
  await priv.send(new CopyObjectCommand({ Bucket: 'private', Key: 't/copy', CopySource: 'private/t/src' }))
  assert.equal(await tagsOf('t/copy'), [['keep', 'me']])
  await priv.send(new CopyObjectCommand({ Bucket: 'private', Key: 't/copy2', CopySource: 'private/t/src', TaggingDirective: 'REPLACE', Tagging: 'new=tag' }))
  assert.equal(await tagsOf('t/copy2'), [['new', 'tag']])

  const { UploadId } = await priv.send(new CreateMultipartUploadCommand({ Bucket: 'private', Key: 't/mp', Tagging: 'from=multipart', ChecksumAlgorithm: 'SHA256' }))
  const part = Buffer.from('multipart body')
  const p = await priv.send(new UploadPartCommand({ Bucket: 'private', Key: 't/mp', UploadId, PartNumber: 1, Body: part, ChecksumAlgorithm: 'SHA256' }))
  await priv.send(new CompleteMultipartUploadCommand({ Bucket: 'private', Key: 't/mp', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag, ChecksumSHA256: p.ChecksumSHA256 }] } }))
  assert.equal(await tagsOf('t/mp'), [['from', 'multipart']])

  const attrs = await priv.send(new GetObjectAttributesCommand({ Bucket: 'private', Key: 't/mp', ObjectAttributes: ['ETag', 'ObjectSize', 'StorageClass', 'Checksum', 'ObjectParts'] }))
  const partSha = createHash('sha256').update(part).digest()
  assert.is(attrs.ETag, `${createHash('md5').update(createHash('md5').update(part).digest()).digest('hex')}-1`)
  assert.is(attrs.ObjectSize, part.length)
  assert.is(attrs.StorageClass, 'STANDARD')
  assert.is(attrs.Checksum!.ChecksumSHA256, `${createHash('sha256').update(partSha).digest('base64')}-1`)
  assert.is(attrs.Checksum!.ChecksumType, 'COMPOSITE')
  assert.is(attrs.ObjectParts!.TotalPartsCount, 1)
  assert.ok(attrs.LastModified instanceof Date)
  const small = await priv.send(new GetObjectAttributesCommand({ Bucket: 'private', Key: 't/src', ObjectAttributes: ['ETag', 'ObjectSize'] }))
  assert.equal([small.ETag, small.ObjectSize, small.ObjectParts], [createHash('md5').update('src').digest('hex'), 3, undefined])
  await fails(priv.send(new GetObjectAttributesCommand({ Bucket: 'private', Key: 't/none', ObjectAttributes: ['ETag'] })), 'NoSuchKey', 404)
  await fails(priv.send(new GetObjectAttributesCommand({ Bucket: 'private', Key: 't/src', ObjectAttributes: ['Colour' as never] })), 'InvalidArgument', 400)
})

test('multipart objects keep their part layout: GET/HEAD by partNumber, GetObjectAttributes pages the parts', async () => {
  const MiB = 1024 * 1024
  const parts = [Buffer.alloc(5 * MiB, 1), Buffer.alloc(5 * MiB, 2), Buffer.from('the last, short part')]
  const { UploadId } = await priv.send(new CreateMultipartUploadCommand({ Bucket: 'private', Key: 't/parts', ChecksumAlgorithm: 'CRC32' }))
  const done = []
  for (const [i, Body] of parts.entries()) done.push(await priv.send(new UploadPartCommand({ Bucket: 'private', Key: 't/parts', UploadId, PartNumber: i + 1, Body, ChecksumAlgorithm: 'CRC32' })))
  await priv.send(new CompleteMultipartUploadCommand({ Bucket: 'private', Key: 't/parts', UploadId, MultipartUpload: { Parts: done.map((p, i) => ({ PartNumber: i + 1, ETag: p.ETag, ChecksumCRC32: p.ChecksumCRC32 })) } }))
  const total = parts.reduce((n, p) => n + p.length, 0)

  const second = await priv.send(new GetObjectCommand({ Bucket: 'private', Key: 't/parts', PartNumber: 2 }))
  assert.is(second.$metadata.httpStatusCode, 206)
  assert.is(second.ContentRange, `bytes ${5 * MiB}-${10 * MiB - 1}/${total}`)
  assert.is(second.PartsCount, 3)
  assert.ok(Buffer.from(await second.Body!.transformToByteArray()).equals(parts[1]))
  const third = await priv.send(new HeadObjectCommand({ Bucket: 'private', Key: 't/parts', PartNumber: 3 }))
  assert.is(third.ContentLength, parts[2].length)
  assert.is(third.PartsCount, 3)
  await fails(priv.send(new GetObjectCommand({ Bucket: 'private', Key: 't/parts', PartNumber: 4 })), 'InvalidPartNumber', 416)
  await fails(priv.send(new GetObjectCommand({ Bucket: 'private', Key: 't/parts', PartNumber: 1, Range: 'bytes=0-1' })), 'InvalidRequest', 400)
  const whole = await priv.send(new GetObjectCommand({ Bucket: 'private', Key: 't/src', PartNumber: 1 }))
  assert.is(await whole.Body!.transformToString(), 'src', 'an object uploaded in one piece is its own part 1')

  const page1 = await priv.send(new GetObjectAttributesCommand({ Bucket: 'private', Key: 't/parts', ObjectAttributes: ['ObjectParts'], MaxParts: 2 }))
  assert.is(page1.ObjectParts!.TotalPartsCount, 3)
  assert.is(page1.ObjectParts!.IsTruncated, true)
  assert.is(page1.ObjectParts!.NextPartNumberMarker, '2')
  assert.equal(page1.ObjectParts!.Parts!.map((p) => [p.PartNumber, p.Size, p.ChecksumCRC32]), [[1, 5 * MiB, done[0].ChecksumCRC32], [2, 5 * MiB, done[1].ChecksumCRC32]])
  const page2 = await priv.send(new GetObjectAttributesCommand({ Bucket: 'private', Key: 't/parts', ObjectAttributes: ['ObjectParts'], MaxParts: 2, PartNumberMarker: '2' }))
  assert.is(page2.ObjectParts!.IsTruncated, false)
  assert.equal(page2.ObjectParts!.Parts!.map((p) => [p.PartNumber, p.Size]), [[3, parts[2].length]])
})

const BOTO = String.raw`
import json, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="private", aws_secret_access_key=sys.argv[2],
                  region_name="us-east-1", config=Config(signature_version="s3v4", retries={"max_attempts": 1}))
def code(f):
    try:
        f()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]
out = {}
s3.put_object(Bucket="private", Key="bt/x", Body=b"boto tags", Tagging="team=blue&cost=42")
tags = lambda: [[t["Key"], t["Value"]] for t in s3.get_object_tagging(Bucket="private", Key="bt/x")["TagSet"]]
out["put"] = tags()
s3.put_object_tagging(Bucket="private", Key="bt/x", Tagging={"TagSet": [{"Key": "team", "Value": "red"}]})
out["replaced"] = tags()
out["count"] = s3.head_object(Bucket="private", Key="bt/x").get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-tagging-count")
s3.delete_object_tagging(Bucket="private", Key="bt/x")
out["deleted"] = tags()
a = s3.get_object_attributes(Bucket="private", Key="bt/x", ObjectAttributes=["ETag", "ObjectSize", "StorageClass"])
out["attributes"] = [a["ETag"], a["ObjectSize"], a["StorageClass"]]
out["part"] = s3.get_object(Bucket="private", Key="t/parts", PartNumber=3)["Body"].read().decode()
out["parts"] = [[p["PartNumber"], p["Size"]] for p in s3.get_object_attributes(Bucket="private", Key="t/parts", ObjectAttributes=["ObjectParts"], PartNumberMarker=1)["ObjectParts"]["Parts"]]
out["dup"] = code(lambda: s3.put_object_tagging(Bucket="private", Key="bt/x", Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}))
print(json.dumps(out))
`

test('boto3: put_object Tagging, get/put/delete_object_tagging, get_object_attributes', async () => {
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', BOTO, nb.url + '/storage', PRIVATE_KEY], { encoding: 'utf8' })
  const r = JSON.parse(stdout)
  assert.equal(r.put, [['team', 'blue'], ['cost', '42']])
  assert.equal(r.replaced, [['team', 'red']])
  assert.is(r.count, '1')
  assert.equal(r.deleted, [])
  assert.equal(r.attributes, [createHash('md5').update('boto tags').digest('hex'), 9, 'STANDARD'])
  assert.is(r.dup, 'InvalidTag')
  assert.is(r.part, 'the last, short part')
  assert.equal(r.parts, [[2, 5 * 1024 * 1024], [3, 20]])
})

test.run()
