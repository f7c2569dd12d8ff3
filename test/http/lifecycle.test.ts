import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, readFileSync, statSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { startTestNestbox } from '../harness.ts'
import { openSqlite } from '../../lib/core/db.ts'

const mainTs = new URL('../../main.ts', import.meta.url).pathname

test('first start writes bootstrap.txt (0600) once; a restart never creates a second admin', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-boot-'))
  const a = await startTestNestbox({ dataDir })
  const file = join(dataDir, 'bootstrap.txt')
  assert.is(statSync(file).mode & 0o777, 0o600)
  const first = readFileSync(file, 'utf8')
  assert.match(first, /api_key=wrn_[0-9a-f]{32}/)
  assert.match(first, /admin_password=\S{12,}/)
  assert.is((await a.api('/v1/me')).status, 200)
  await a.close()

  const b = await startTestNestbox({ dataDir })
  assert.is(readFileSync(file, 'utf8'), first, 'bootstrap.txt untouched')
  assert.is((await b.api('/v1/me')).status, 200, 'the same key still works')
  await b.close()
  const db = openSqlite(join(dataDir, 'nestbox.db'))
  assert.is((db.prepare('SELECT count(*) n FROM users').get() as { n: number }).n, 1)
  assert.is((db.prepare('SELECT count(*) n FROM api_keys').get() as { n: number }).n, 1)
  db.close()
  rmSync(dataDir, { recursive: true, force: true })
})

test('serve prints only the bootstrap path, logs JSON lines, and exits 0 on SIGTERM', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-cli-'))
  const child = spawn(process.execPath, [mainTs, 'serve', '--data-dir', dataDir, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = '', err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no listen line: ' + err)), 15_000)
    child.stderr.on('data', () => {
      const m = /"msg":"listening".*?"port":(\d+)/.exec(err)
      if (m) { clearTimeout(t); resolve(Number(m[1])) }
    })
  })
  const r = await fetch(`http://127.0.0.1:${port}/health/liveliness`)
  assert.is(r.status, 200)
  child.kill('SIGTERM')
  const code = await new Promise((res) => child.on('close', res))
  assert.is(code, 0)
  assert.is(out.trim(), `first start: admin credentials written to ${join(dataDir, 'bootstrap.txt')}`)
  assert.not.match(out + err, /wrn_[0-9a-f]{32}/, 'no secret printed or logged')
  for (const line of err.trim().split('\n')) JSON.parse(line)
  assert.match(err, /"msg":"request".*"path":"\/health\/liveliness"/)
  assert.match(err, /"msg":"stopped"/)
  rmSync(dataDir, { recursive: true, force: true })
})

test('graceful shutdown lets an in-flight request finish', async () => {
  const nb = await startTestNestbox()
  // A slow client upload keeps a request in flight while close() runs.
  const body = new ReadableStream({
    async start(ctrl) {
      ctrl.enqueue(new TextEncoder().encode('{"a":'))
      await new Promise((r) => setTimeout(r, 300))
      ctrl.enqueue(new TextEncoder().encode('1}'))
      ctrl.close()
    },
  })
  const inflight = fetch(nb.url + '/v1/me', { method: 'GET', headers: { 'x-api-key': nb.apiKey } })
  const slow = fetch(nb.url + '/v1/me', { method: 'POST', body, headers: { 'x-api-key': nb.apiKey, 'content-type': 'application/json' }, duplex: 'half' } as RequestInit)
  await new Promise((r) => setTimeout(r, 50))
  const closing = nb.close()
  assert.is((await inflight).status, 200)
  const s = await slow
  assert.ok(s.status === 404 || s.status === 405, `in-flight request answered (${s.status})`)
  await closing
  await assert.not.throws(() => {})
  try {
    await fetch(nb.url + '/health/liveliness')
    assert.unreachable('server should be closed')
  } catch (e) {
    assert.instance(e, TypeError)
  }
})

test.run()
