/** `nestbox doctor` run as a user runs it: one line per check, non-zero exit when a required check fails. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeStandIn } from '../tunnel/standin.ts'

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
  assert.equal(Object.keys(r.byName), ['runtime', 'sqlite', 'pty', 'bubblewrap', 'entry', 'cgroups', 'data dir', 'network', 'cloudflared', 'claude', 'sandboxes', 'uploads'])
  assert.match(r.byName.runtime.detail, new RegExp(`^node ${process.version.replace(/\./g, '\\.')}, from a checkout$`))
  assert.match(r.byName.sqlite.detail, /^better-sqlite3 loaded, SQLite 3\.\d+\.\d+$/)
  assert.is(r.byName.pty.status, 'ok')
  assert.match(r.byName.bubblewrap.detail, /^bubblewrap \d+\.\d+\.\d+, creates user\/pid\/net\/mount namespaces$/)
  assert.match(r.byName.entry.detail, /build\/nestbox-enter runs$/)
  assert.match(r.byName.cgroups.detail, /^cgroup v[12]/)
  assert.is(r.byName['data dir'].detail, `${data} does not exist yet; ${work} is writable`)
  assert.not.ok(existsSync(data), 'doctor does not create the data dir')
  // bin/deps.sh installs passt (pasta) and nftables: every network mode is there
  assert.match(r.byName.network.detail, /^modes none, nestbox: available \(default: nestbox\); internet: pasta\b[^,]*, nftables v\d/)
  // cloudflared is not installed here, and the tunnel is off: a warning, not a failure.
  assert.is(r.byName.cloudflared.status, 'warn')
  assert.is(r.byName.cloudflared.detail, 'not configured (tunnel.cloudflared.enabled is false); cloudflared is not installed')
  // npm ci installed the Claude Code CLI claudebox binds into workspaces
  assert.is(r.byName.claude.status, 'ok')
  assert.match(r.byName.claude.detail, /^\d+\.\d+\.\d+ \(Claude Code\) at \/\S+\/@anthropic-ai\/claude-code-linux-(x64|arm64)(-musl)?$/)
  const none = doctor('--data-dir', data, '--set', `claudebox.cliDir=${work}`)
  assert.is(none.byName.claude.status, 'warn')
  assert.is(none.byName.claude.detail, `no claude executable in claudebox.cliDir ${work}`)
  // npm ci installed opencode for sandboxes; openclaw comes with the first openclaw sandbox
  assert.is(r.byName.sandboxes.status, 'ok')
  assert.match(r.byName.sandboxes.detail, /^opencode \d+\.\d+\.\d+ at \/\S+\/opencode-linux-\S+\/bin; openclaw \S+ not installed yet/)
  assert.is(doctor('--data-dir', data, '--set', `sandboxes.opencodeBin=${join(work, 'none')}`).byName.sandboxes.status, 'warn')
  // npm ci compiled the receive addon
  assert.is(r.byName.uploads.status, 'ok')
  assert.is(r.byName.uploads.detail, 'nestbox_receive.node takes large upload bodies off the event loop')
})

test('an enabled tunnel: cloudflared must run (its version is shown), and its files be readable', () => {
  const cf = writeStandIn()
  try {
    const ok = doctor('--data-dir', join(work, 'd2'), '--set', 'tunnel.cloudflared.enabled=true', '--set', `tunnel.cloudflared.path=${cf.path}`)
    assert.is(ok.code, 0, ok.stdout + ok.stderr)
    assert.is(ok.byName.cloudflared.status, 'ok')
    assert.match(ok.byName.cloudflared.detail, /^cloudflared version 2025\.11\.1 \(built [^)]+\), quick tunnel \(a new https:\/\/\*\.trycloudflare\.com URL at every start\); stopped by \/(usr\/)?bin\/setpriv --pdeathsig if nestbox is killed$/)
    const off = doctor('--data-dir', join(work, 'd2'), '--set', 'tunnel.cloudflared.path=' + cf.path)
    assert.is(off.byName.cloudflared.detail, 'not configured (tunnel.cloudflared.enabled is false); cloudflared version 2025.11.1 (built 2025-11-07-16:59 UTC) found')
    const missing = doctor('--data-dir', join(work, 'd2'), '--set', 'tunnel.cloudflared.enabled=true', '--set', `tunnel.cloudflared.path=${join(cf.dir, 'nope')}`)
    assert.is(missing.code, 1)
    assert.is(missing.byName.cloudflared.status, 'FAIL')
    assert.match(missing.byName.cloudflared.detail, /^tunnel\.cloudflared is enabled but cloudflared was not found at tunnel\.cloudflared\.path/)
    const named = doctor('--data-dir', join(work, 'd2'), '--set', 'tunnel.cloudflared.enabled=true', '--set', `tunnel.cloudflared.path=${cf.path}`, '--set', 'tunnel.cloudflared.mode=named', '--set', `tunnel.cloudflared.configFile=${join(cf.dir, 'absent.yml')}`)
    assert.is(named.byName.cloudflared.status, 'FAIL')
    assert.match(named.byName.cloudflared.detail, /^tunnel\.cloudflared\.configFile \S+absent\.yml cannot be read \(ENOENT\)$/)
  } finally {
    cf.remove()
  }
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
  assert.is(r.lines.length, 12)
  assert.is(r.byName.sqlite.status, 'ok')
})

test('bad configuration stops doctor with one line naming the key', () => {
  const r = doctor('--port', 'abc')
  assert.is(r.code, 1)
  assert.match(r.stderr.trim(), /^nestbox: config: listen\.port must be an integer between 0 and 65535 \(got "abc" from flag\)$/)
})

test.after(() => rmSync(work, { recursive: true, force: true }))
test.run()
