import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash, randomBytes } from 'node:crypto'
import type { TestNestbox } from '../harness.ts'
import { call, exec, startWithCapsule, type Caller, type Callers } from './fixtures.ts'

let nb: TestNestbox
let who: Callers
let id: string

test.before(async () => void ({ nb, who, id } = await startWithCapsule({ set: { 'capsules.limits.maxUploadMb': 1 } })))
test.after(() => nb?.close())

const upload = (path: string, content: Buffer | string, endpoint = 'write', who?: Caller) => {
  const fd = new FormData()
  fd.append('path', path)
  fd.append('file', new Blob([typeof content === 'string' ? content : new Uint8Array(content)]), 'f.bin')
  const init = { method: 'POST', body: fd }
  return who ? call(nb, who, `/v1/capsules/${id}/files/${endpoint}`, init) : nb.api(`/v1/capsules/${id}/files/${endpoint}`, init)
}
const post = (op: string, json: unknown) => nb.api(`/v1/capsules/${id}/files/${op}`, { method: 'POST', json })

test('write (multipart) then read back, byte for byte; the capsule sees the file', async () => {
  const data = randomBytes(200_000)
  assert.is((await upload('/tmp/data.bin', data)).status, 204)
  const r = await post('read', { path: '/tmp/data.bin' })
  assert.is(r.status, 200)
  assert.is(r.headers.get('content-type'), 'application/octet-stream')
  assert.is(r.headers.get('content-length'), String(data.length))
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(data))
  const sum = await exec(nb, id, { cmd: 'sha256sum /tmp/data.bin' })
  assert.is(sum.body.stdout.split(' ')[0], createHash('sha256').update(data).digest('hex'))
  await exec(nb, id, { cmd: 'echo made-inside > /tmp/inside.txt' })
  assert.is(await (await post('read', { path: '/tmp/inside.txt' })).text(), 'made-inside\n')
})

test('streaming write and read: 8 MiB through both stream endpoints', async () => {
  const data = randomBytes(8 << 20)
  assert.is((await upload('/tmp/big.bin', data, 'stream/write')).status, 204)
  const r = await post('stream/read', { path: '/tmp/big.bin' })
  assert.is(r.status, 200)
  assert.is(r.headers.get('content-length'), null, 'streamed with chunked encoding')
  const got = Buffer.from(await r.arrayBuffer())
  assert.is(got.length, data.length)
  assert.ok(got.equals(data))
})

test('files/write is capped (413, nothing left behind); the streaming variant is not', async () => {
  const big = randomBytes(2 << 20)
  const r = await upload('/tmp/too-big.bin', big)
  assert.is(r.status, 413)
  assert.is((await r.json()).error.code, 'file_too_large')
  assert.is((await post('read', { path: '/tmp/too-big.bin' })).status, 404)
  assert.is((await upload('/tmp/ok-big.bin', big, 'stream/write')).status, 204)
})

test('an upload the client aborts leaves no file and no writer behind', async () => {
  const boundary = 'nestboxabort'
  const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="path"\r\n\r\n/tmp/aborted.bin\r\n--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a"\r\ncontent-type: application/octet-stream\r\n\r\n`)
  const ac = new AbortController()
  let sent = 0
  const body = new ReadableStream({
    async pull(ctrl) {
      if (sent === 0) ctrl.enqueue(new Uint8Array(head))
      if (sent < 4) ctrl.enqueue(new Uint8Array(256 * 1024))
      sent++
      if (sent === 5) setTimeout(() => ac.abort(), 200)
      await new Promise((r) => setTimeout(r, 50))
    },
  })
  const res = await fetch(`${nb.url}/v1/capsules/${id}/files/stream/write`, {
    method: 'POST',
    body,
    signal: ac.signal,
    headers: { 'x-api-key': nb.apiKey, 'content-type': `multipart/form-data; boundary=${boundary}` },
    duplex: 'half',
  } as RequestInit).catch((e) => e)
  assert.ok(res instanceof Error, 'the client aborted')
  await new Promise((r) => setTimeout(r, 500))
  assert.is((await post('read', { path: '/tmp/aborted.bin' })).status, 404)
  const ls = await (await post('list', { path: '/tmp' })).json()
  assert.ok(!ls.entries.some((e: { name: string }) => e.name.includes('aborted')), JSON.stringify(ls.entries.map((e: { name: string }) => e.name)))
  const procs = await (await nb.api(`/v1/capsules/${id}/processes`)).json()
  assert.equal(procs.processes.filter((p: { cmd: string; args: string[] }) => [p.cmd, ...p.args].join(' ').includes('aborted')), [])
})

test('upload needs path before file, multipart, a file part', async () => {
  const fd = new FormData()
  fd.append('file', new Blob(['x']))
  fd.append('path', '/tmp/late')
  const r = await nb.api(`/v1/capsules/${id}/files/write`, { method: 'POST', body: fd })
  assert.is(r.status, 400)
  assert.match((await r.json()).error.message, /path/)
  const q = new FormData()
  q.append('file', new Blob(['via query']))
  assert.is((await nb.api(`/v1/capsules/${id}/files/write?path=/tmp/q.txt`, { method: 'POST', body: q })).status, 204)
  assert.is(await (await post('read', { path: '/tmp/q.txt' })).text(), 'via query')
  assert.is((await nb.api(`/v1/capsules/${id}/files/write`, { method: 'POST', json: { path: '/x' } })).status, 400)
  const noFile = new FormData()
  noFile.append('path', '/tmp/nofile')
  assert.is((await nb.api(`/v1/capsules/${id}/files/write`, { method: 'POST', body: noFile })).status, 400)
})

test('list with depth, mkdir (409 when it exists), remove', async () => {
  const mk = await post('mkdir', { path: '/work/a/b' })
  assert.is(mk.status, 200)
  const entry = (await mk.json()).entry
  assert.is(entry.type, 'directory')
  assert.is(entry.path, '/work/a/b')
  assert.match(entry.permissions, /^d[rwx-]{9}$/)
  const again = await post('mkdir', { path: '/work/a/b' })
  assert.is(again.status, 409)
  assert.is((await again.json()).error.code, 'already_exists')
  assert.is((await upload('/work/a/b/f.txt', 'hello')).status, 204)
  assert.is((await upload('/work/top.txt', 'x')).status, 204)

  const one = await (await post('list', { path: '/work' })).json()
  assert.equal(one.entries.map((e: { path: string }) => e.path).sort(), ['/work/a', '/work/top.txt'])
  const top = one.entries.find((e: { name: string }) => e.name === 'top.txt')
  assert.is(top.type, 'file')
  assert.is(top.size, 1)
  assert.type(top.modified_at, 'number')
  assert.ok(top.modified_at < 1e11, 'modified_at is in seconds')
  const three = await (await post('list', { path: '/work', depth: 3 })).json()
  assert.ok(three.entries.some((e: { path: string }) => e.path === '/work/a/b/f.txt'), JSON.stringify(three))
  assert.is((await post('list', { path: '/work', depth: 99 })).status, 400)
  assert.is((await post('list', { path: '/nope-missing' })).status, 404)

  assert.is((await post('remove', { path: '/work/a' })).status, 204)
  assert.is((await post('read', { path: '/work/a/b/f.txt' })).status, 404)
  assert.is((await post('remove', { path: '/work/a' })).status, 404)
})

test('paths: relative refused, .. and symlinks never leave the capsule', async () => {
  assert.is((await post('read', { path: 'etc/passwd' })).status, 400)
  assert.is((await post('read', {})).status, 400)
  // A file outside every capsule, on the host.
  const marker = `/tmp/nestbox-host-secret-${process.pid}`
  await import('node:fs/promises').then((fs) => fs.writeFile(marker, 'host secret'))
  try {
    const dotdot = await post('read', { path: `/../../../../../..${marker}` })
    if (dotdot.status === 200) assert.is.not(await dotdot.text(), 'host secret', '.. stays inside the capsule root')
    await exec(nb, id, { cmd: `ln -sf ${nb.dataDir} /tmp/to-data; ln -sf /proc/1/root/tmp /tmp/to-host` })
    for (const path of ['/tmp/to-data/nestbox.db', `/tmp/to-host/${marker.split('/').pop()}`]) {
      const r = await post('read', { path })
      if (r.status === 200) assert.is.not(await r.text(), 'host secret', path)
      else assert.ok([400, 403, 404].includes(r.status), `${path}: ${r.status}`)
    }
    const w = await upload(`/tmp/to-data/evil.txt`, 'x')
    assert.ok(w.status === 204 || (w.status >= 400 && w.status < 500), `write through a symlink: ${w.status} ${await w.clone().text()}`)
    const fs = await import('node:fs')
    assert.ok(!fs.existsSync(`${nb.dataDir}/evil.txt`), 'writing through a symlink never lands in the data dir')
  } finally {
    await import('node:fs/promises').then((fs) => fs.rm(marker, { force: true }))
  }
})

test('scenario table: files per caller', async () => {
  const rows: Array<[Caller, string, unknown, number]> = [
    [who.anonymous, 'read', { path: '/tmp/q.txt' }, 401],
    [who.otherTeam, 'read', { path: '/tmp/q.txt' }, 404],
    [who.otherTeam, 'list', { path: '/tmp' }, 404],
    [who.otherTeam, 'mkdir', { path: '/tmp/x1' }, 404],
    [who.otherTeam, 'remove', { path: '/tmp/q.txt' }, 404],
    [who.viewer, 'read', { path: '/tmp/q.txt' }, 200],
    [who.viewer, 'list', { path: '/tmp' }, 200],
    [who.viewer, 'mkdir', { path: '/tmp/x2' }, 403],
    [who.viewer, 'remove', { path: '/tmp/q.txt' }, 403],
    [who.owner, 'mkdir', { path: '/tmp/x3' }, 200],
  ]
  for (const [caller, op, body, status] of rows) {
    const r = await call(nb, caller, `/v1/capsules/${id}/files/${op}`, { method: 'POST', json: body })
    assert.is(r.status, status, `${caller.name} ${op}`)
  }
  assert.is((await upload('/tmp/v.txt', 'x', 'write', who.viewer)).status, 403)
  assert.is((await upload('/tmp/v.txt', 'x', 'stream/write', who.otherTeam)).status, 404)
  assert.is((await upload('/tmp/v.txt', 'x', 'write', who.anonymous)).status, 401)
  assert.is((await upload('/tmp/v.txt', 'x', 'write', who.member)).status, 204)
})

test('file operations on a paused capsule: 409', async () => {
  await nb.api(`/v1/capsules/${id}/pause`, { method: 'POST' })
  const r = await post('read', { path: '/tmp/q.txt' })
  assert.is(r.status, 409)
  assert.is((await upload('/tmp/p.txt', 'x')).status, 409)
  await nb.api(`/v1/capsules/${id}/resume`, { method: 'POST' })
  assert.is((await post('read', { path: '/tmp/q.txt' })).status, 200)
})

test.run()
