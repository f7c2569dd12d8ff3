/** The AWS CLI from Debian's awscli package (/usr/bin/aws) against the running nestbox. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { PRIVATE_KEY, startStorage, type StorageNestbox } from './helpers.ts'

let nb: StorageNestbox
let dir: string
test.before(async () => {
  nb = await startStorage()
  dir = mkdtempSync(join(tmpdir(), 'nestbox-awscli-'))
})
test.after(async () => {
  await nb.close()
  rmSync(dir, { recursive: true, force: true })
})

async function aws(args: string[], secret = PRIVATE_KEY, access = 'private') {
  const env = {
    PATH: '/usr/bin:/bin',
    HOME: dir,
    AWS_ACCESS_KEY_ID: access,
    AWS_SECRET_ACCESS_KEY: secret,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: join(dir, 'none-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none-credentials'),
    AWS_PAGER: '',
  }
  return promisify(execFile)('/usr/bin/aws', ['--endpoint-url', nb.url + '/storage', ...args], { env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 })
}

test('aws s3 cp of a file large enough to go multipart, both ways', async () => {
  const big = randomBytes(9 * 1024 * 1024 + 17) // above the CLI's 8 MiB multipart threshold
  writeFileSync(join(dir, 'big.bin'), big)
  await aws(['s3', 'cp', join(dir, 'big.bin'), 's3://private/cli/big.bin'])
  const head = await fetch(nb.url + '/storage/private/cli/big.bin', { method: 'HEAD', headers: { authorization: `Bearer ${PRIVATE_KEY}` } })
  assert.match(head.headers.get('etag')!, /-2"$/, 'uploaded in two parts')
  assert.is(head.headers.get('content-length'), String(big.length))
  await aws(['s3', 'cp', 's3://private/cli/big.bin', join(dir, 'back.bin')])
  assert.is(createHash('sha256').update(readFileSync(join(dir, 'back.bin'))).digest('hex'), createHash('sha256').update(big).digest('hex'))
})

test('aws s3 sync uploads new and changed files only; aws s3 ls lists them', async () => {
  const src = join(dir, 'tree')
  mkdirSync(join(src, 'sub'), { recursive: true })
  writeFileSync(join(src, 'a.txt'), 'alpha')
  writeFileSync(join(src, 'sub', 'b.txt'), 'bravo')
  writeFileSync(join(src, 'sub', 'c d.txt'), 'charlie')
  const first = await aws(['s3', 'sync', src, 's3://private/tree'])
  assert.is(first.stdout.match(/upload:/g)?.length, 3)
  const second = await aws(['s3', 'sync', src, 's3://private/tree'])
  assert.is(second.stdout.trim(), '', 'nothing to do the second time')
  writeFileSync(join(src, 'a.txt'), 'alpha, changed')
  const third = await aws(['s3', 'sync', src, 's3://private/tree'])
  assert.is(third.stdout.match(/upload:/g)?.length, 1)

  const ls = (await aws(['s3', 'ls', 's3://private/tree/'])).stdout
  assert.match(ls, /PRE sub\//)
  assert.match(ls, /\s14 a\.txt/)
  const rec = (await aws(['s3', 'ls', '--recursive', 's3://private/tree/'])).stdout
  assert.match(rec, /tree\/sub\/c d\.txt/)

  const down = join(dir, 'down')
  await aws(['s3', 'sync', 's3://private/tree', down])
  assert.is(readFileSync(join(down, 'sub', 'c d.txt'), 'utf8'), 'charlie')
})

test('aws s3 presign gives a URL that works without credentials, and fails when tampered', async () => {
  const url = (await aws(['s3', 'presign', 's3://private/tree/a.txt', '--expires-in', '600'])).stdout.trim()
  const r = await fetch(url)
  assert.is(r.status, 200)
  assert.is(await r.text(), 'alpha, changed')
  assert.is((await fetch(url.replace('a.txt', 'b.txt'))).status, 403)
  assert.is((await fetch(url.replace(/X-Amz-Signature=[0-9a-f]{4}/, 'X-Amz-Signature=0000'))).status, 403)
})

test('aws s3api list-object-versions and delete-objects by version: each object is its only version, "null"', async () => {
  writeFileSync(join(dir, 'v.txt'), 'version me')
  await aws(['s3', 'cp', join(dir, 'v.txt'), 's3://private/ver/v.txt'])
  const listed = JSON.parse((await aws(['s3api', 'list-object-versions', '--bucket', 'private', '--prefix', 'ver/'])).stdout)
  assert.equal(listed.Versions.map((v: { Key: string; VersionId: string; IsLatest: boolean }) => [v.Key, v.VersionId, v.IsLatest]), [['ver/v.txt', 'null', true]])
  const del = JSON.stringify({ Objects: [{ Key: 'ver/v.txt', VersionId: 'null' }] })
  const out = JSON.parse((await aws(['s3api', 'delete-objects', '--bucket', 'private', '--delete', del])).stdout)
  assert.equal(out.Deleted, [{ Key: 'ver/v.txt', VersionId: 'null' }])
  // The CLI prints nothing for an empty paginated listing.
  assert.is((await aws(['s3api', 'list-object-versions', '--bucket', 'private', '--prefix', 'ver/', '--query', 'Versions[].Key', '--output', 'text'])).stdout.trim(), 'None')
})

test('a wrong secret fails the CLI', async () => {
  try {
    await aws(['s3', 'ls', 's3://private/'], 'wrong-secret')
    assert.unreachable('should fail')
  } catch (e) {
    assert.match((e as { stderr: string }).stderr, /SignatureDoesNotMatch/)
  }
})

test.run()
