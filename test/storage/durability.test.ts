/** TTL expiry and sweeping, orphan files, a crash in the middle of an upload, restarts, and per-object locks. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { bearer, BUCKETS, PRIVATE_KEY, startStorage } from './helpers.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const objectFiles = (dataDir: string) => readdirSync(join(dataDir, 'storage', 'objects')).flatMap((d) => readdirSync(join(dataDir, 'storage', 'objects', d)))

test('TTL: an upload resets the clock; expired objects are never served, then the sweeper deletes them', async () => {
  const nb = await startStorage({}, [...BUCKETS, { name: 'short', key: 'short-bucket-key-0123456789', ttl: '1s' }])
  try {
    const put = (k: string, v: string) => fetch(`${nb.url}/storage/short/${k}`, { method: 'PUT', body: v, headers: bearer('short-bucket-key-0123456789') })
    const get = (k: string) => fetch(`${nb.url}/storage/short/${k}`, { headers: bearer('short-bucket-key-0123456789') })
    await put('gone.txt', 'soon gone')
    await put('kept.txt', 'v1')
    assert.is((await get('gone.txt')).status, 200)
    await sleep(600)
    await put('kept.txt', 'v2') // resets kept.txt's clock
    await sleep(600)
    assert.is((await get('gone.txt')).status, 404, 'expired: not served even before the sweep')
    assert.is(await (await get('kept.txt')).text(), 'v2')
    const list = await (await fetch(`${nb.url}/storage/short`, { headers: bearer('short-bucket-key-0123456789') })).json()
    assert.equal(list.objects.map((o: { key: string }) => o.key), ['kept.txt'])
    const before = objectFiles(nb.dataDir).length
    await nb.services.jobs.runNow('storage.sweep')
    assert.is(objectFiles(nb.dataDir).length, before - 1, 'the expired object\'s file is deleted')
    assert.is(await (await get('kept.txt')).text(), 'v2')
  } finally {
    await nb.close()
  }
})

test('on a fresh store, concurrent first writes into the same new shard directories all land', async () => {
  const nb = await startStorage()
  try {
    assert.equal(readdirSync(join(nb.dataDir, 'storage', 'objects')), [], 'no shard directory before the first write')
    // 96 uploads at once over 256 shards: many of them race to make the same shard.
    const keys = Array.from({ length: 96 }, (_, i) => `race/${i}.txt`)
    const puts = await Promise.all(keys.map((k) => fetch(`${nb.url}/storage/private/${k}`, { method: 'PUT', body: `body of ${k}`, headers: bearer(PRIVATE_KEY) })))
    assert.equal(puts.map((r) => r.status), keys.map(() => 200))
    for (const k of keys) assert.is(await (await fetch(`${nb.url}/storage/private/${k}`, { headers: bearer(PRIVATE_KEY) })).text(), `body of ${k}`)
    assert.is(objectFiles(nb.dataDir).length, 96)
  } finally {
    await nb.close()
  }
})

test('a large upload (hashed on a worker where the machine has cores to spare) round-trips byte for byte', async () => {
  const nb = await startStorage()
  try {
    const MiB = 1024 * 1024
    const total = 72 * MiB // well past the worker threshold: many staging buffers and write batches
    const md5 = createHash('md5')
    const sent = createHash('sha256')
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${nb.url}/storage/private/big/72m.bin`, { method: 'PUT', headers: { ...bearer(PRIVATE_KEY), 'content-length': String(total) } }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode!))
      })
      req.on('error', reject)
      let n = 0
      const pump = () => {
        while (n < total) {
          const chunk = randomBytes(Math.min(MiB + 4321, total - n)) // odd sizes: chunks straddle staging buffers
          n += chunk.length
          md5.update(chunk)
          sent.update(chunk)
          if (!req.write(chunk)) return void req.once('drain', pump)
        }
        req.end()
      }
      pump()
    })
    assert.is(status, 200)
    const got = await fetch(`${nb.url}/storage/private/big/72m.bin`, { headers: bearer(PRIVATE_KEY) })
    assert.is(got.headers.get('etag'), `"${md5.digest('hex')}"`)
    const back = createHash('sha256')
    for await (const c of got.body as unknown as AsyncIterable<Uint8Array>) back.update(c)
    assert.is(back.digest('hex'), sent.digest('hex'))
  } finally {
    await nb.close()
  }
})

test('the sweeper removes orphan object files and stale temp files, never live ones', async () => {
  const nb = await startStorage()
  try {
    await fetch(`${nb.url}/storage/private/live.txt`, { method: 'PUT', body: 'live', headers: bearer(PRIVATE_KEY) })
    const orphan = join(nb.dataDir, 'storage', 'objects', 'ab', 'ab' + '0'.repeat(30))
    const tmp = join(nb.dataDir, 'storage', 'tmp', 'f'.repeat(32))
    mkdirSync(dirname(orphan), { recursive: true }) // shards are made by the first write into them
    writeFileSync(orphan, 'left by a crash after rename, before commit')
    writeFileSync(tmp, 'left by a crash before rename')
    const r = await (nb.services.storage.sweep() as Promise<{ orphans: number; tmp: number }>)
    assert.is(r.orphans, 1)
    assert.is(r.tmp, 1)
    assert.not.ok(existsSync(orphan))
    assert.not.ok(existsSync(tmp))
    assert.is(await (await fetch(`${nb.url}/storage/private/live.txt`, { headers: bearer(PRIVATE_KEY) })).text(), 'live')
  } finally {
    await nb.close()
  }
})

test('a crash in the middle of an overwrite leaves the old object; keys survive restarts', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-crash-'))
  const mainTs = new URL('../../main.ts', import.meta.url).pathname
  const serve = () =>
    new Promise<{ child: ChildProcess; port: number }>((resolve, reject) => {
      const child = spawn(process.execPath, [mainTs, 'serve', '--data-dir', dataDir, '--port', '0', '--host', '127.0.0.1', '--set', `storage.buckets=${JSON.stringify(BUCKETS)}`], { stdio: ['ignore', 'ignore', 'pipe'] })
      let err = ''
      const t = setTimeout(() => reject(new Error('no listen line: ' + err)), 20_000)
      child.stderr!.on('data', (d) => {
        err += d
        const m = /"msg":"listening".*?"port":(\d+)/.exec(err)
        if (m) {
          clearTimeout(t)
          resolve({ child, port: Number(m[1]) })
        }
      })
    })
  try {
    let { child, port } = await serve()
    const boot = readFileSync(join(dataDir, 'bootstrap.txt'), 'utf8')
    const uploadsKey = /storage_bucket_uploads_key=(\S+)/.exec(boot)![1]
    const url = `http://127.0.0.1:${port}/storage/private/doc.bin`
    const v1 = Buffer.alloc(3 * 1024 * 1024, 1)
    assert.is((await fetch(url, { method: 'PUT', body: v1, headers: bearer(PRIVATE_KEY) })).status, 200)

    // Start overwriting with 8 MiB, send half of it, then kill -9 the server.
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/storage/private/doc.bin', headers: { ...bearer(PRIVATE_KEY), 'content-length': String(8 * 1024 * 1024) } })
      req.on('error', () => resolve())
      req.write(Buffer.alloc(4 * 1024 * 1024, 2), () => setTimeout(() => {
        child.kill('SIGKILL')
        resolve()
      }, 200))
    })
    await new Promise((r) => child.once('close', r))
    assert.ok(readdirSync(join(dataDir, 'storage', 'tmp')).length >= 1, 'the half-written temp file is there after the crash')

    ;({ child, port } = await serve())
    try {
      const r = await fetch(`http://127.0.0.1:${port}/storage/private/doc.bin`, { headers: bearer(PRIVATE_KEY) })
      assert.is(r.status, 200)
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(v1), 'the old object, whole')
      assert.is(readdirSync(join(dataDir, 'storage', 'tmp')).length, 0, 'temp files cleaned at start')
      assert.is(readFileSync(join(dataDir, 'bootstrap.txt'), 'utf8'), boot, 'no new keys on restart')
      const w = await fetch(`http://127.0.0.1:${port}/storage/uploads/after-restart.txt`, { method: 'PUT', body: 'x', headers: bearer(uploadsKey) })
      assert.is(w.status, 200, 'the generated uploads key still works')
    } finally {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('close', r))
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test('locks: a writer waits for readers (503 after the acquire timeout), waiters are capped, holds are bounded', async () => {
  const nb = await startStorage({ 'storage.locks.acquireTimeoutMs': 400, 'storage.locks.maxWaiters': 1, 'storage.locks.holdTimeoutMs': 2000 })
  try {
    const url = `${nb.url}/storage/private/locked.bin`
    const size = 64 * 1024 * 1024
    assert.is((await fetch(url, { method: 'PUT', body: Buffer.alloc(size, 3), headers: bearer(PRIVATE_KEY) })).status, 200)
    // A reader that stops reading keeps its read lock (the download is back-pressured, not buffered).
    const slow = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(url, { headers: bearer(PRIVATE_KEY) }, resolve)
      req.on('error', reject)
      req.end()
    })
    slow.pause()
    const readers = await Promise.all([1, 2, 3].map(() => fetch(url, { headers: { ...bearer(PRIVATE_KEY), range: 'bytes=0-9' } })))
    assert.equal(readers.map((r) => r.status), [206, 206, 206], 'readers share the lock')
    const t0 = Date.now()
    const [w1, w2] = await Promise.all([
      fetch(url, { method: 'PUT', body: 'new', headers: bearer(PRIVATE_KEY) }),
      (async () => {
        await sleep(100)
        return fetch(url, { method: 'PUT', body: 'newer', headers: bearer(PRIVATE_KEY) })
      })(),
    ])
    assert.is(w1.status, 503, 'acquire timeout')
    assert.ok(Date.now() - t0 >= 380)
    assert.is(w2.status, 503, 'too many waiters')
    assert.match(await w2.text(), /too many requests waiting/)
    // The hold limit releases the stalled reader's lock; writes go through afterwards.
    const aborted = new Promise<boolean>((resolve) => {
      slow.on('aborted', () => resolve(true))
      slow.on('error', () => resolve(true))
      slow.on('end', () => resolve(false))
      slow.on('close', () => resolve(true))
    })
    await sleep(2100)
    assert.is((await fetch(url, { method: 'PUT', body: 'after', headers: bearer(PRIVATE_KEY) })).status, 200)
    slow.resume()
    assert.is(await aborted, true, 'the stalled download was cut off')
    assert.is(await (await fetch(url, { headers: bearer(PRIVATE_KEY) })).text(), 'after')
  } finally {
    await nb.close()
  }
})

test.run()
