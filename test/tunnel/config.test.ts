/**
 * tunnel.cloudflared settings: keys that only work together are refused by
 * loadConfig with one line naming them; files and the executable are checked
 * when nestbox starts, so a bad one stops the start instead of a restart loop.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../../lib/core/config/index.ts'
import { startTestNestbox } from '../harness.ts'
import { adminBrowser } from '../identity/helpers.ts'
import { writeStandIn } from './standin.ts'

const dir = mkdtempSync(join(tmpdir(), 'nestbox-tunnel-cfg-'))
const file = (name: string, text: string) => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}
const cf = writeStandIn()
const mainTs = new URL('../../main.ts', import.meta.url).pathname

const load = (set: Record<string, string>, env: Record<string, string> = {}) =>
  loadConfig({ argv: Object.entries({ 'tunnel.cloudflared.enabled': 'true', ...set }).flatMap(([k, v]) => ['--set', `${k}=${v}`]), env })

function refused(set: Record<string, string>, message: string, env: Record<string, string> = {}) {
  try {
    load(set, env)
    assert.unreachable(`accepted ${JSON.stringify(set)}`)
  } catch (e) {
    assert.instance(e, ConfigError)
    assert.is((e as Error).message, message)
  }
}

test('defaults: off, quick, cloudflared from PATH, 1 s to 60 s backoff, 10 failures, 10 s to stop', () => {
  const c = loadConfig({ env: {} }).tunnel.cloudflared
  assert.equal(c, { enabled: false, path: '', mode: 'quick', configFile: '', credentialsFile: '', tokenFile: '', name: '', restartDelayMs: 1000, maxRestartDelayMs: 60_000, maxFailures: 10, stopTimeoutMs: 10_000 })
  const e = loadConfig({ env: { NESTBOX_TUNNEL_CLOUDFLARED_ENABLED: 'yes', NESTBOX_TUNNEL_CLOUDFLARED_MODE: 'named', NESTBOX_TUNNEL_CLOUDFLARED_TOKEN_FILE: '/etc/nestbox/tunnel-token' } }).tunnel.cloudflared
  assert.equal([e.enabled, e.mode, e.tokenFile], [true, 'named', '/etc/nestbox/tunnel-token'])
})

test('keys that only work together are refused, naming them', () => {
  refused({ 'tunnel.cloudflared.mode': 'named' }, 'config: tunnel.cloudflared.mode "named" needs tunnel.cloudflared.configFile (a cloudflared config.yml) or tunnel.cloudflared.tokenFile')
  refused({ 'tunnel.cloudflared.configFile': '/etc/cloudflared/config.yml' }, 'config: tunnel.cloudflared.configFile is only used when tunnel.cloudflared.mode is "named" (mode is "quick")')
  refused({ 'tunnel.cloudflared.name': 'nestbox' }, 'config: tunnel.cloudflared.name is only used when tunnel.cloudflared.mode is "named" (mode is "quick")')
  refused({ 'tunnel.cloudflared.restartDelayMs': '5000', 'tunnel.cloudflared.maxRestartDelayMs': '1000' }, 'config: tunnel.cloudflared.maxRestartDelayMs must not be below tunnel.cloudflared.restartDelayMs')
  refused({}, 'config: tunnel.cloudflared.mode must be one of quick, named (got "fast" from NESTBOX_TUNNEL_CLOUDFLARED_MODE)', { NESTBOX_TUNNEL_CLOUDFLARED_MODE: 'fast' })
  refused({ 'tunnel.cloudflared.name': 'a b' }, 'config: tunnel.cloudflared.name must be a tunnel name or UUID (got "a b" from flag)')
  refused({ 'tunnel.cloudflared.stopTimeoutMs': '5' }, 'config: tunnel.cloudflared.stopTimeoutMs must be an integer between 100 and 600000 (got 5 from flag)')
  // Disabled, the same settings are left alone (a prepared but switched-off section).
  assert.is(load({ 'tunnel.cloudflared.enabled': 'false', 'tunnel.cloudflared.mode': 'named' }).tunnel.cloudflared.mode, 'named')
})

test('the CLI prints one line for a bad tunnel setting and exits 1', () => {
  const r = spawnSync(process.execPath, [mainTs, 'config', '--set', 'tunnel.cloudflared.enabled=true', '--set', 'tunnel.cloudflared.mode=named'], { encoding: 'utf8' })
  assert.is(r.status, 1)
  assert.is(r.stderr.trim(), 'nestbox: config: tunnel.cloudflared.mode "named" needs tunnel.cloudflared.configFile (a cloudflared config.yml) or tunnel.cloudflared.tokenFile')
})

async function startRefused(set: Record<string, string>, message: RegExp) {
  const err = await startTestNestbox({ set: { 'tunnel.cloudflared.enabled': true, ...set } }).then(
    async (nb) => {
      await nb.close()
      return null
    },
    (e) => e,
  )
  assert.instance(err, ConfigError, `started with ${JSON.stringify(set)}`)
  assert.match(err.message, message)
}

test('a missing or unusable cloudflared stops the start', async () => {
  await startRefused({ 'tunnel.cloudflared.path': join(dir, 'nope') }, /^config: tunnel\.cloudflared is enabled but cloudflared was not found at tunnel\.cloudflared\.path \(.*nope\); install it from Cloudflare's packages \(see README\) or set tunnel\.cloudflared\.path$/)
  const notExec = file('not-executable', '#!/bin/sh\n')
  chmodSync(notExec, 0o644)
  await startRefused({ 'tunnel.cloudflared.path': notExec }, /^config: cloudflared at tunnel\.cloudflared\.path \(.*not-executable\) is not executable$/)
  const broken = file('broken', '#!/bin/sh\necho "no such flag: --version" >&2\nexit 3\n')
  chmodSync(broken, 0o755)
  await startRefused({ 'tunnel.cloudflared.path': broken }, /^config: `.*broken --version` failed: no such flag: --version$/)
})

test("a named tunnel's files are checked at start", async () => {
  const named = { 'tunnel.cloudflared.path': cf.path, 'tunnel.cloudflared.mode': 'named' }
  await startRefused({ ...named, 'tunnel.cloudflared.configFile': join(dir, 'absent.yml') }, /^config: tunnel\.cloudflared\.configFile \S+absent\.yml cannot be read \(ENOENT\)$/)
  await startRefused({ ...named, 'tunnel.cloudflared.configFile': file('bad.yml', 'ingress: [\n') }, /^config: tunnel\.cloudflared\.configFile \S+bad\.yml is not valid YAML: /)
  await startRefused({ ...named, 'tunnel.cloudflared.configFile': file('list.yml', '- a\n') }, /must be a YAML mapping/)
  await startRefused({ ...named, 'tunnel.cloudflared.configFile': file('nameless.yml', 'ingress:\n  - service: http://127.0.0.1:4000\n') }, /nameless\.yml names no tunnel \(add "tunnel: <UUID or name>" or set tunnel\.cloudflared\.name\)$/)
  await startRefused({ ...named, 'tunnel.cloudflared.configFile': file('ingress.yml', 'tunnel: t1\ningress: {}\n') }, /ingress must be a list of rules$/)
  const ok = file('ok.yml', 'tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef\ningress:\n  - service: http_status:404\n')
  await startRefused({ ...named, 'tunnel.cloudflared.configFile': ok, 'tunnel.cloudflared.credentialsFile': join(dir, 'creds.json') }, /^config: tunnel\.cloudflared\.credentialsFile \S+creds\.json cannot be read \(ENOENT\)$/)
  await startRefused({ ...named, 'tunnel.cloudflared.tokenFile': file('empty-token', '\n') }, /^config: tunnel\.cloudflared\.tokenFile \S+empty-token is empty$/)
})

test('with the tunnel off, admins see "disabled" and links use the listen address', async () => {
  const nb = await startTestNestbox()
  try {
    const r = await (await adminBrowser(nb)).get('/v1/admin/tunnel')
    assert.is(r.status, 200)
    assert.equal(await r.json(), { state: 'disabled', mode: null, url: null, public_url: nb.url, pid: null, restarts: 0, last_error: null, version: null, started_at: null })
  } finally {
    await nb.close()
  }
})

test.after(() => {
  cf.remove()
  rmSync(dir, { recursive: true, force: true })
})
test.run()
