/** The command line as a user types it: mistakes get one line on stderr and exit 2, before anything starts. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const mainTs = new URL('../../main.ts', import.meta.url).pathname
const cwd = mkdtempSync(join(tmpdir(), 'nestbox-cli-args-'))
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NESTBOX_')))

/** Runs main.ts in an empty directory; a command line that wrongly starts the server is killed after 15 s (status null). */
function run(...args: string[]) {
  const r = spawnSync(process.execPath, [mainTs, ...args], { cwd, env, encoding: 'utf8', timeout: 15_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

function usageError(r: ReturnType<typeof run>, message: RegExp) {
  assert.is(r.code, 2, `exit 2, got ${r.code}: ${r.err}`)
  assert.is(r.out, '')
  const lines = r.err.trimEnd().split('\n')
  assert.is(lines.length, 1, `one line: ${r.err}`)
  assert.match(lines[0], message)
  assert.equal(readdirSync(cwd), [], 'nothing started, no data directory made')
}

test('an unknown flag after serve is refused, naming the flag it looks like', () => {
  usageError(run('serve', '--data', '/srv/nb', '--port', '0', '--host', '127.0.0.1'), /^nestbox: unknown flag --data \(did you mean --data-dir\?\)/)
  usageError(run('serve', '--data=/srv/nb', '--port', '0'), /^nestbox: unknown flag --data /)
  usageError(run('--verbose', 'serve', '--port', '0'), /^nestbox: unknown flag --verbose; see "nestbox help"$/)
  usageError(run('serve', '-p', '0'), /^nestbox: unknown flag -p \(did you mean --port\?\)/)
})

test('unknown commands, extra arguments and flags without values are refused', () => {
  usageError(run('serv', '--port', '0'), /^nestbox: unknown command "serv"; see "nestbox help"$/)
  usageError(run('serve', 'now', '--port', '0'), /^nestbox: unexpected argument "now" after serve/)
  usageError(run('serve', '--port'), /^nestbox: flag --port needs a value/)
})

test('help and version still answer, and known flags still work', () => {
  const v = run('version')
  assert.is(v.code, 0)
  assert.match(v.out, /^\d+\.\d+\.\d+/)
  const h = run('serve', '--help')
  assert.is(h.code, 0)
  assert.match(h.out, /usage: nestbox <command>/)
  const c = run('config', '--data-dir', '/srv/nb', '--port', '4100')
  assert.is(c.code, 0, c.err)
  assert.match(c.out, /dataDir: \/srv\/nb/)
  assert.match(c.out, /port: 4100/)
  assert.not.ok(existsSync(join(cwd, 'data')))
})

test.after(() => rmSync(cwd, { recursive: true, force: true }))
test.run()
