/** `nestbox doctor` run as a user runs it: one line per check, non-zero exit when a required check fails. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const mainTs = new URL('../../main.ts', import.meta.url).pathname
const work = mkdtempSync(join(tmpdir(), 'nestbox-doctor-'))

function doctor(...args: string[]) {
  const r = spawnSync(process.execPath, [mainTs, 'doctor', ...args], { encoding: 'utf8', timeout: 30_000 })
  const lines = r.stdout.trim().split('\n')
  const byName = Object.fromEntries(lines.map((l) => [l.slice(6, 17).trim(), { status: l.slice(0, 5).trim(), detail: l.slice(18) }]))
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines, byName }
}

test('a healthy host: every check on its own line, exit 0', () => {
  const data = join(work, 'data')
  const r = doctor('--data-dir', data)
  assert.is(r.code, 0, r.stdout + r.stderr)
  assert.equal(Object.keys(r.byName), ['runtime', 'sqlite', 'pty', 'bubblewrap', 'entry', 'cgroups', 'data dir'])
  assert.match(r.byName.runtime.detail, new RegExp(`^node ${process.version.replace(/\./g, '\\.')}, from a checkout$`))
  assert.match(r.byName.sqlite.detail, /^better-sqlite3 loaded, SQLite 3\.\d+\.\d+$/)
  assert.is(r.byName.pty.status, 'ok')
  assert.match(r.byName.bubblewrap.detail, /^bubblewrap \d+\.\d+\.\d+, creates user\/pid\/net\/mount namespaces$/)
  assert.match(r.byName.entry.detail, /build\/nestbox-enter runs$/)
  assert.match(r.byName.cgroups.detail, /^cgroup v[12]/)
  assert.is(r.byName['data dir'].detail, `${data} does not exist yet; ${work} is writable`)
  assert.not.ok(existsSync(data), 'doctor does not create the data dir')
})

test('an existing data dir is probed by writing, and left clean', () => {
  const data = mkdtempSync(join(work, 'existing-'))
  const r = doctor('--data-dir', data)
  assert.is(r.code, 0, r.stdout)
  assert.is(r.byName['data dir'].detail, `${data} is writable`)
  assert.equal(readdirSync(data), [])
})

test('a data dir that cannot exist fails the run, naming the reason, after all checks ran', () => {
  const file = join(work, 'a-file')
  writeFileSync(file, 'x')
  const r = doctor('--data-dir', join(file, 'data'))
  assert.is(r.code, 1)
  assert.is(r.byName['data dir'].status, 'FAIL')
  assert.is(r.byName['data dir'].detail, `${join(file, 'data')} cannot be created: ${file} is not a directory`)
  assert.is(r.lines.length, 7)
  assert.is(r.byName.sqlite.status, 'ok')
})

test('bad configuration stops doctor with one line naming the key', () => {
  const r = doctor('--port', 'abc')
  assert.is(r.code, 1)
  assert.match(r.stderr.trim(), /^nestbox: config: listen\.port must be an integer between 0 and 65535 \(got "abc" from flag\)$/)
})

test.after(() => rmSync(work, { recursive: true, force: true }))
test.run()
