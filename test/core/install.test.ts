/**
 * bin/install.sh run into a temporary root (--root): what it puts where, with which
 * modes, what a second run keeps, and that --dry-run changes nothing. The unit and
 * the settings example are checked against the configuration schema.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { envName } from '../../lib/core/config/index.ts'
import { schema } from '../../lib/core/config/schema.ts'
import { isLeaf, type Section } from '../../lib/core/config/spec.ts'

const repo = new URL('../..', import.meta.url).pathname
const script = join(repo, 'bin/install.sh')
const work = mkdtempSync(join(tmpdir(), 'nestbox-install-'))
const hasSystemctl = spawnSync('sh', ['-c', 'command -v systemctl']).status === 0

/** A stand-in executable: the installer only copies it. */
function fakeBinary(name: string, text: string): string {
  const p = join(work, name)
  writeFileSync(p, `#!/bin/sh\necho ${text}\n`)
  chmodSync(p, 0o755)
  return p
}

function install(args: string[]) {
  const r = spawnSync('bash', [script, ...args], { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8)

function listTree(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    const rel = p.slice(base.length)
    return lstatSync(p).isDirectory() ? [rel + '/', ...listTree(p, base)] : [rel]
  })
}

test('installs the binary, the unit and the settings file into --root', () => {
  const root = join(work, 'root1')
  mkdirSync(root)
  const bin = fakeBinary('nestbox-a', 'v1')
  const r = install(['--root', root, '--binary', bin])
  assert.is(r.code, 0, r.out)

  const exe = join(root, 'usr/local/bin/nestbox')
  assert.is(readFileSync(exe, 'utf8'), readFileSync(bin, 'utf8'))
  assert.is(mode(exe), '755')
  assert.not.ok(existsSync(exe + '.new'), 'no temporary file left behind')

  const unit = readFileSync(join(root, 'etc/systemd/system/nestbox.service'), 'utf8')
  assert.is(unit, readFileSync(join(repo, 'systemd/nestbox.service'), 'utf8'))
  assert.is(mode(join(root, 'etc/systemd/system/nestbox.service')), '644')

  const env = join(root, 'etc/nestbox/nestbox.env')
  assert.is(readFileSync(env, 'utf8'), readFileSync(join(repo, 'systemd/nestbox.env.example'), 'utf8'))
  assert.is(mode(env), '600', 'the settings file can hold secrets')
  assert.ok(existsSync(join(root, 'etc/nestbox/nestbox.env.example')))

  const wants = join(root, 'etc/systemd/system/multi-user.target.wants/nestbox.service')
  if (hasSystemctl) assert.is(readlinkSync(wants), '/etc/systemd/system/nestbox.service', 'enabled inside the root')
  else assert.match(r.out, /systemctl not found/)

  // Nothing outside the expected places.
  const expected = [
    '/etc/', '/etc/nestbox/', '/etc/nestbox/nestbox.env', '/etc/nestbox/nestbox.env.example', '/etc/systemd/',
    '/etc/systemd/system/', '/etc/systemd/system/nestbox.service', '/usr/', '/usr/local/', '/usr/local/bin/', '/usr/local/bin/nestbox',
    ...(hasSystemctl ? ['/etc/systemd/system/multi-user.target.wants/', '/etc/systemd/system/multi-user.target.wants/nestbox.service'] : []),
  ]
  assert.equal(listTree(root).sort(), expected.sort())
})

test('a second run replaces the binary and the unit but keeps the edited settings file', () => {
  const root = join(work, 'root2')
  mkdirSync(root)
  assert.is(install(['--root', root, '--binary', fakeBinary('nestbox-b1', 'old')]).code, 0)
  const env = join(root, 'etc/nestbox/nestbox.env')
  writeFileSync(env, 'NESTBOX_LISTEN_PORT=4100\n')
  const r = install(['--root', root, '--binary', fakeBinary('nestbox-b2', 'new')])
  assert.is(r.code, 0, r.out)
  assert.match(r.out, /keeping existing .*nestbox\.env/)
  assert.is(readFileSync(env, 'utf8'), 'NESTBOX_LISTEN_PORT=4100\n')
  assert.match(readFileSync(join(root, 'usr/local/bin/nestbox'), 'utf8'), /echo new/)
})

test('--prefix moves the binary and the unit follows it', () => {
  const root = join(work, 'root3')
  mkdirSync(root)
  const r = install(['--root', root, '--prefix', '/opt/nestbox', '--binary', fakeBinary('nestbox-c', 'c')])
  assert.is(r.code, 0, r.out)
  assert.ok(existsSync(join(root, 'opt/nestbox/bin/nestbox')))
  assert.not.ok(existsSync(join(root, 'usr/local/bin/nestbox')))
  const unit = readFileSync(join(root, 'etc/systemd/system/nestbox.service'), 'utf8')
  assert.match(unit, /^ExecStart=\/opt\/nestbox\/bin\/nestbox serve$/m)
})

test('--dry-run prints the plan and changes nothing; bad input is refused', () => {
  const root = join(work, 'root4')
  mkdirSync(root)
  const r = install(['--root', root, '--binary', fakeBinary('nestbox-d', 'd'), '--dry-run'])
  assert.is(r.code, 0, r.out)
  assert.match(r.out, /install -m 0755 .*nestbox-d .*usr\/local\/bin\/nestbox\.new/)
  assert.match(r.out, /dry run: nothing was changed/)
  assert.equal(readdirSync(root), [])

  const missing = install(['--root', root, '--binary', join(work, 'absent')])
  assert.is(missing.code, 1)
  assert.match(missing.out, /missing or not executable \(build it: npm run build\)/)
  assert.is(install(['--root', join(work, 'no-such-dir'), '--binary', fakeBinary('nestbox-e', 'e')]).code, 2)
  assert.is(install(['--frobnicate']).code, 2)
  assert.equal(readdirSync(root), [])
})

test('the unit keeps what capsules need and points at the state and settings paths', () => {
  const unit = readFileSync(join(repo, 'systemd/nestbox.service'), 'utf8')
  const set = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1])
  assert.equal(set('Restart'), ['on-failure'])
  assert.equal(set('StateDirectory'), ['nestbox'])
  assert.equal(set('Environment'), ['NESTBOX_DATA_DIR=%S/nestbox'])
  assert.equal(set('EnvironmentFile'), ['-/etc/nestbox/nestbox.env'])
  // Each of these would stop bubblewrap from creating namespaces or mounting /proc, or block cgroups.
  for (const key of ['RestrictNamespaces', 'PrivateUsers', 'ProtectKernelTunables', 'ProtectControlGroups', 'PrivateDevices', 'ProtectProc', 'ProtectKernelLogs', 'ProtectHostname'])
    assert.equal(set(key), [], `${key} must stay unset`)
})

test('every NESTBOX_* name in the settings example is a real configuration key', () => {
  const names = new Set<string>()
  const walk = (s: Section, path: string[]) => {
    for (const [k, v] of Object.entries(s)) isLeaf(v) ? names.add(envName([...path, k])) : walk(v, [...path, k])
  }
  walk(schema, [])
  names.add('NESTBOX_CONFIG')
  const used = [...readFileSync(join(repo, 'systemd/nestbox.env.example'), 'utf8').matchAll(/^#?(NESTBOX_[A-Z0-9_]+)=/gm)].map((m) => m[1])
  assert.ok(used.length >= 8, `found ${used.length}`)
  for (const n of used) assert.ok(names.has(n), `${n} is not a configuration key`)
})

test.after(() => rmSync(work, { recursive: true, force: true }))
test.run()
