/** boto3 from Debian's python3-boto3, run by /usr/bin/python3 against the running nestbox. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { PRIVATE_KEY, OTHER_KEY, startStorage, type StorageNestbox } from './helpers.ts'

let nb: StorageNestbox
test.before(async () => {
  nb = await startStorage()
})
test.after(() => nb.close())

const SCRIPT = String.raw`
import json, os, sys, tempfile, urllib.request
import boto3
from botocore.config import Config
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

endpoint, key, other_key = sys.argv[1], sys.argv[2], sys.argv[3]
def client(ak, sk):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
                        region_name="us-east-1", config=Config(signature_version="s3v4", retries={"max_attempts": 1}))
s3 = client("private", key)
out = {}
d = tempfile.mkdtemp()
src = os.path.join(d, "image.png")
data = os.urandom(6 * 1024 * 1024 + 123)
open(src, "wb").write(data)
# A low threshold makes upload_file go multipart (two 5 MiB parts).
s3.upload_file(src, "private", "boto/image.png", Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))
s3.put_object(Bucket="private", Key="boto/small.txt", Body=b"small body", Metadata={"k": "v"})
dst = os.path.join(d, "local.png")
s3.download_file("private", "boto/image.png", dst)
out["download_ok"] = open(dst, "rb").read() == data
head = s3.head_object(Bucket="private", Key="boto/image.png")
out["etag"] = head["ETag"]
out["length"] = head["ContentLength"]
out["meta"] = s3.head_object(Bucket="private", Key="boto/small.txt")["Metadata"]
out["list"] = [o["Key"] for o in s3.list_objects_v2(Bucket="private", Prefix="boto/")["Contents"]]
out["list_v1"] = [o["Key"] for o in s3.list_objects(Bucket="private", Prefix="boto/")["Contents"]]
s3.copy_object(Bucket="private", Key="boto/copy.txt", CopySource={"Bucket": "private", "Key": "boto/small.txt"})
out["copy"] = s3.get_object(Bucket="private", Key="boto/copy.txt")["Body"].read().decode()
out["range"] = s3.get_object(Bucket="private", Key="boto/small.txt", Range="bytes=0-4")["Body"].read().decode()
url = s3.generate_presigned_url("get_object", Params={"Bucket": "private", "Key": "boto/small.txt"}, ExpiresIn=3600)
out["presigned"] = urllib.request.urlopen(url).read().decode()
put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "private", "Key": "boto/presigned-put.txt"}, ExpiresIn=60)
urllib.request.urlopen(urllib.request.Request(put_url, data=b"via presigned put", method="PUT"))
out["presigned_put"] = s3.get_object(Bucket="private", Key="boto/presigned-put.txt")["Body"].read().decode()
try:
    urllib.request.urlopen(url.replace("small.txt", "copy.txt"))
    out["tampered"] = 200
except urllib.error.HTTPError as e:
    out["tampered"] = e.code
s3.delete_object(Bucket="private", Key="boto/copy.txt")
out["after_delete"] = [o["Key"] for o in s3.list_objects_v2(Bucket="private", Prefix="boto/")["Contents"]]
def code(f):
    try:
        f()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]
out["wrong_secret"] = code(lambda: client("private", "wrong-secret").list_objects_v2(Bucket="private"))
out["other_bucket_key"] = code(lambda: client("other-access", other_key).get_object(Bucket="private", Key="boto/small.txt"))
out["missing"] = code(lambda: s3.get_object(Bucket="private", Key="boto/none"))
print(json.dumps(out))
`

test('boto3: upload_file (multipart), download_file, list, copy, range, presigned GET/PUT, delete, auth failures', async () => {
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', SCRIPT, nb.url + '/storage', PRIVATE_KEY, OTHER_KEY], { encoding: 'utf8' })
  const r = JSON.parse(stdout)
  assert.is(r.download_ok, true)
  assert.match(r.etag, /^"[0-9a-f]{32}-2"$/, 'multipart ETag')
  assert.is(r.length, 6 * 1024 * 1024 + 123)
  assert.equal(r.meta, { k: 'v' })
  assert.equal(r.list, ['boto/image.png', 'boto/small.txt'])
  assert.equal(r.list_v1, ['boto/image.png', 'boto/small.txt'])
  assert.is(r.copy, 'small body')
  assert.is(r.range, 'small')
  assert.is(r.presigned, 'small body')
  assert.is(r.presigned_put, 'via presigned put')
  assert.is(r.tampered, 403)
  assert.equal(r.after_delete, ['boto/image.png', 'boto/presigned-put.txt', 'boto/small.txt'])
  assert.is(r.wrong_secret, 'SignatureDoesNotMatch')
  assert.is(r.other_bucket_key, 'AccessDenied')
  assert.is(r.missing, 'NoSuchKey')
})

test.run()
