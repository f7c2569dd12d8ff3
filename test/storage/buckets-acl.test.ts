/**
 * Bucket listing and creation as S3 tools use them, and canned ACLs mapped on
 * nestbox's model (issue 17): private or public-read buckets, objects that
 * take their bucket's ACL, NotImplemented for what cannot be honoured.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetBucketAclCommand, GetBucketLocationCommand, GetObjectAclCommand, HeadObjectCommand,
  ListBucketsCommand, PutBucketAclCommand, PutObjectAclCommand, PutObjectCommand,
} from '@aws-sdk/client-s3'
import { execFile } from 'node:child_process'
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

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers'
const anonList = (bucket: string) => fetch(`${nb.url}/storage/${bucket}?list-type=2`)

test('ListBuckets pages with max-buckets and continuation-token, filters by prefix', async () => {
  const names: string[] = []
  let token: string | undefined
  do {
    const page = await master.send(new ListBucketsCommand({ MaxBuckets: 3, ContinuationToken: token }))
    assert.ok(page.Buckets!.length <= 3)
    names.push(...page.Buckets!.map((b) => b.Name!))
    token = page.ContinuationToken
  } while (token)
  assert.equal(names, ['other', 'private', 'tiny', 'uploads'])
  assert.equal((await master.send(new ListBucketsCommand({ Prefix: 'p' }))).Buckets!.map((b) => b.Name), ['private'])
  assert.equal((await priv.send(new ListBucketsCommand({ MaxBuckets: 1 }))).Buckets!.map((b) => b.Name), ['private'])
  await fails(master.send(new ListBucketsCommand({ ContinuationToken: 'not a token' })), 'InvalidArgument', 400)
  await fails(master.send(new ListBucketsCommand({ MaxBuckets: 0 })), 'InvalidArgument', 400)
})

test('CreateBucket: LocationConstraint of this region; taken names: BucketAlreadyOwnedByYou or BucketAlreadyExists', async () => {
  await master.send(new CreateBucketCommand({ Bucket: 'located', CreateBucketConfiguration: { LocationConstraint: 'us-east-1' as never } }))
  assert.is((await master.send(new GetBucketLocationCommand({ Bucket: 'located' }))).LocationConstraint, undefined, 'us-east-1 reads as empty')
  await fails(master.send(new CreateBucketCommand({ Bucket: 'elsewhere', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } })), 'IllegalLocationConstraintException', 400)
  await fails(master.send(new CreateBucketCommand({ Bucket: 'located' })), 'BucketAlreadyOwnedByYou', 409)
  await fails(priv.send(new CreateBucketCommand({ Bucket: 'private' })), 'BucketAlreadyOwnedByYou', 409)
  await fails(priv.send(new CreateBucketCommand({ Bucket: 'other' })), 'BucketAlreadyExists', 409)
  await fails(priv.send(new CreateBucketCommand({ Bucket: 'brand-new' })), 'AccessDenied', 403)
})

test('bucket ACLs: create public-read, read the grants, set private and back with a policy document; what cannot be honoured is NotImplemented', async () => {
  await master.send(new CreateBucketCommand({ Bucket: 'made-public', ACL: 'public-read' }))
  assert.is((await anonList('made-public')).status, 200)
  const acl = await master.send(new GetBucketAclCommand({ Bucket: 'made-public' }))
  assert.equal(acl.Grants!.map((g) => [g.Grantee!.Type, g.Grantee!.ID ?? g.Grantee!.URI, g.Permission]), [['CanonicalUser', 'nestbox', 'FULL_CONTROL'], ['Group', ALL_USERS, 'READ']])
  await master.send(new PutBucketAclCommand({ Bucket: 'made-public', ACL: 'private' }))
  assert.is((await anonList('made-public')).status, 403)
  assert.equal((await master.send(new GetBucketAclCommand({ Bucket: 'made-public' }))).Grants!.map((g) => g.Permission), ['FULL_CONTROL'])
  const owner = { ID: 'nestbox', DisplayName: 'nestbox' }
  await master.send(new PutBucketAclCommand({ Bucket: 'made-public', AccessControlPolicy: { Owner: owner, Grants: [{ Grantee: { Type: 'CanonicalUser', ID: 'nestbox' }, Permission: 'FULL_CONTROL' }, { Grantee: { Type: 'Group', URI: ALL_USERS }, Permission: 'READ' }] } }))
  assert.is((await anonList('made-public')).status, 200)

  await fails(master.send(new PutBucketAclCommand({ Bucket: 'made-public', ACL: 'public-read-write' })), 'NotImplemented', 501)
  await fails(master.send(new PutBucketAclCommand({ Bucket: 'made-public', GrantWrite: `uri="${ALL_USERS}"` })), 'NotImplemented', 501)
  await fails(master.send(new PutBucketAclCommand({ Bucket: 'made-public', AccessControlPolicy: { Owner: owner, Grants: [{ Grantee: { Type: 'Group', URI: ALL_USERS }, Permission: 'WRITE' }] } })), 'NotImplemented', 501)
  await fails(master.send(new CreateBucketCommand({ Bucket: 'rw', ACL: 'authenticated-read' })), 'NotImplemented', 501)
  assert.is((await anonList('made-public')).status, 200, 'a refused ACL changed nothing')

  // A bucket key may restate its bucket's ACL, not change it; configured buckets change in configuration.
  await priv.send(new PutBucketAclCommand({ Bucket: 'private', ACL: 'private' }))
  await fails(priv.send(new PutBucketAclCommand({ Bucket: 'private', ACL: 'public-read' })), 'AccessDenied', 403)
  await fails(master.send(new PutBucketAclCommand({ Bucket: 'private', ACL: 'public-read' })), 'OperationAborted', 409)
})

test('object ACLs: the bucket\'s ACL is accepted on PUT, COPY, multipart and PutObjectAcl; another is NotImplemented and nothing is written', async () => {
  await priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'acl/a.txt', Body: 'a', ACL: 'private' }))
  await priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'acl/b.txt', Body: 'b', ACL: 'bucket-owner-full-control' }))
  await fails(priv.send(new PutObjectCommand({ Bucket: 'private', Key: 'acl/pub.txt', Body: 'p', ACL: 'public-read' })), 'NotImplemented', 501)
  await fails(priv.send(new HeadObjectCommand({ Bucket: 'private', Key: 'acl/pub.txt' })), 'NotFound', 404)
  await fails(priv.send(new CopyObjectCommand({ Bucket: 'private', Key: 'acl/c.txt', CopySource: 'private/acl/a.txt', ACL: 'public-read' })), 'NotImplemented', 501)
  await fails(priv.send(new CreateMultipartUploadCommand({ Bucket: 'private', Key: 'acl/m.bin', ACL: 'public-read' })), 'NotImplemented', 501)
  const got = await priv.send(new GetObjectAclCommand({ Bucket: 'private', Key: 'acl/a.txt' }))
  assert.equal(got.Grants!.map((g) => [g.Grantee!.ID, g.Permission]), [['nestbox', 'FULL_CONTROL']])
  assert.is(got.Owner!.ID, 'nestbox')
  await priv.send(new PutObjectAclCommand({ Bucket: 'private', Key: 'acl/a.txt', ACL: 'private' }))
  await fails(priv.send(new PutObjectAclCommand({ Bucket: 'private', Key: 'acl/a.txt', ACL: 'public-read' })), 'NotImplemented', 501)
  await fails(priv.send(new GetObjectAclCommand({ Bucket: 'private', Key: 'acl/none' })), 'NoSuchKey', 404)

  await master.send(new PutObjectCommand({ Bucket: 'uploads', Key: 'acl/pub.txt', Body: 'p', ACL: 'public-read' }))
  const pub = await master.send(new GetObjectAclCommand({ Bucket: 'uploads', Key: 'acl/pub.txt' }))
  assert.equal(pub.Grants!.map((g) => g.Permission), ['FULL_CONTROL', 'READ'])
  await fails(master.send(new PutObjectCommand({ Bucket: 'uploads', Key: 'acl/priv.txt', Body: 'x', ACL: 'private' })), 'NotImplemented', 501)
})

const BOTO = String.raw`
import json, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
endpoint, master_key = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="nestbox-master", aws_secret_access_key=master_key,
                  region_name="us-east-1", config=Config(signature_version="s3v4", retries={"max_attempts": 1}))
def code(f):
    try:
        f()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]
out = {}
s3.create_bucket(Bucket="boto-pub", ACL="public-read")
out["exists"] = code(lambda: s3.create_bucket(Bucket="boto-pub"))
out["location"] = code(lambda: s3.create_bucket(Bucket="boto-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}))
out["buckets"] = [b["Name"] for b in s3.list_buckets()["Buckets"]]
out["bucket_grants"] = [g["Permission"] for g in s3.get_bucket_acl(Bucket="boto-pub")["Grants"]]
s3.put_object(Bucket="boto-pub", Key="o.txt", Body=b"o", ACL="public-read")
out["object_grants"] = [g["Permission"] for g in s3.get_object_acl(Bucket="boto-pub", Key="o.txt")["Grants"]]
out["private_object"] = code(lambda: s3.put_object(Bucket="boto-pub", Key="p.txt", Body=b"p", ACL="private"))
s3.put_bucket_acl(Bucket="boto-pub", ACL="private")
out["after_private"] = [g["Permission"] for g in s3.get_bucket_acl(Bucket="boto-pub")["Grants"]]
out["grant_header"] = code(lambda: s3.put_bucket_acl(Bucket="boto-pub", GrantRead='uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"'))
print(json.dumps(out))
`

test('boto3: create_bucket with ACL and LocationConstraint, list_buckets, bucket and object ACLs', async () => {
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', BOTO, nb.url + '/storage', nb.masterKey], { encoding: 'utf8' })
  const r = JSON.parse(stdout)
  assert.is(r.exists, 'BucketAlreadyOwnedByYou')
  assert.is(r.location, 'IllegalLocationConstraintException')
  assert.ok(r.buckets.includes('boto-pub'))
  assert.equal(r.bucket_grants, ['FULL_CONTROL', 'READ'])
  assert.equal(r.object_grants, ['FULL_CONTROL', 'READ'])
  assert.is(r.private_object, 'NotImplemented')
  assert.equal(r.after_private, ['FULL_CONTROL'])
  assert.is(r.grant_header, 'NotImplemented')
})

test.run()
