import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { ConfigError, envName, loadConfig, redactConfig } from '../../lib/core/config/index.ts'
import { scratchDir } from '../harness.ts'

const dir = scratchDir('cfg')
const file = (name: string, text: string) => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}
const mainTs = new URL('../../main.ts', import.meta.url).pathname

test('defaults are embedded: port 4000, data in ./data', () => {
  const c = loadConfig({ env: {} })
  assert.is(c.listen.port, 4000)
  assert.is(c.dataDir, './data')
})

test('layers: defaults < file < env < flags', () => {
  const f = file('a.yaml', 'listen:\n  port: 5000\n  host: 127.0.0.2\nlogLevel: warn\ndataDir: /srv/x\n')
  const c = loadConfig({ argv: ['--config', f, '--port', '7000'], env: { NESTBOX_LISTEN_PORT: '6000', NESTBOX_LOG_LEVEL: 'debug' } })
  assert.is(c.listen.port, 7000, 'flag wins')
  assert.is(c.logLevel, 'debug', 'env beats file')
  assert.is(c.listen.host, '127.0.0.2', 'file beats default')
  assert.is(c.dataDir, '/srv/x')
  assert.is(loadConfig({ argv: ['--config', f], env: { NESTBOX_LISTEN_PORT: '6000' } }).listen.port, 6000)
})

test('env names derive from paths', () => {
  assert.is(envName(['listen', 'port']), 'NESTBOX_LISTEN_PORT')
  assert.is(envName(['dataDir']), 'NESTBOX_DATA_DIR')
  assert.is(loadConfig({ env: { NESTBOX_DATA_DIR: '/tmp/q' } }).dataDir, '/tmp/q')
})

test('--set reaches any key; unknown keys are refused', () => {
  assert.is(loadConfig({ argv: ['--set', 'http.bodyLimitMb=3'], env: {} }).http.bodyLimitMb, 3)
  assert.throws(() => loadConfig({ argv: ['--set', 'http.nope=3'], env: {} }), /unknown key http\.nope/)
  const f = file('typo.yaml', 'listen:\n  prot: 1\n')
  assert.throws(() => loadConfig({ argv: ['--config', f], env: {} }), /unknown key listen\.prot/)
})

test('bad values name the key and where they came from', () => {
  try {
    loadConfig({ env: { NESTBOX_LISTEN_PORT: 'eighty' } })
    assert.unreachable()
  } catch (e) {
    assert.instance(e, ConfigError)
    assert.match((e as Error).message, /listen\.port must be an integer between 0 and 65535 \(got "eighty" from NESTBOX_LISTEN_PORT\)/)
  }
  assert.throws(() => loadConfig({ argv: ['--set', 'logLevel=loud'], env: {} }), /logLevel must be one of/)
  const bad = file('bad.yaml', 'listen: [1, 2\n')
  assert.throws(() => loadConfig({ argv: ['--config', bad], env: {} }), /not valid YAML/)
})

test('secrets are redacted', () => {
  const c = loadConfig({ env: { NESTBOX_IDENTITY_MAIL_SMTP_PASSWORD: 'hunter2hunter2' } })
  assert.is(c.identity.mail.smtp.password, 'hunter2hunter2')
  assert.is((redactConfig(c).identity as { mail: { smtp: { password: string } } }).mail.smtp.password, '***')
})

test('CLI: `config` prints the effective config redacted; bad config stops with one line', () => {
  const ok = spawnSync(process.execPath, [mainTs, 'config', '--port', '4567'], { env: { ...process.env, NESTBOX_IDENTITY_MAIL_SMTP_PASSWORD: 'topsecretvalue' }, encoding: 'utf8' })
  assert.is(ok.status, 0, ok.stderr)
  assert.match(ok.stdout, /port: 4567/)
  assert.not.match(ok.stdout, /topsecretvalue/)
  assert.match(ok.stdout, /password: "\*\*\*"/)
  const bad = spawnSync(process.execPath, [mainTs, 'serve', '--port', '99999'], { env: process.env, encoding: 'utf8' })
  assert.is(bad.status, 1)
  assert.is(bad.stderr.trim().split('\n').length, 1, bad.stderr)
  assert.match(bad.stderr, /listen\.port/)
})

test.run()
