/** cloudflared's output and command line, from its source (quick_tunnel.go's AsciiBox, the connection log line). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig } from '../../lib/core/config/index.ts'
import { cloudflaredArgs, parseLogLine } from '../../lib/tunnel/cloudflared.ts'
import { originUrl } from '../../lib/tunnel/setup.ts'

test('the quick tunnel URL is the one inside the box, not any trycloudflare.com URL in other lines', () => {
  const box = [
    '2026-01-16T08:32:58Z INF +--------------------------------------------------------------------------------------------+',
    '2026-01-16T08:32:58Z INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |',
    '2026-01-16T08:32:58Z INF |  https://oklahoma-solo-younger-truck.trycloudflare.com                                     |',
  ].map(parseLogLine)
  assert.equal(box.map((l) => l.url), [undefined, undefined, 'https://oklahoma-solo-younger-truck.trycloudflare.com'])
  assert.is(box[2].level, 'info')
  const err = parseLogLine('2026-01-16T08:32:54Z ERR failed to request quick Tunnel: Post "https://api.trycloudflare.com/tunnel": dial tcp: i/o timeout')
  assert.equal(err, { level: 'error', message: 'failed to request quick Tunnel: Post "https://api.trycloudflare.com/tunnel": dial tcp: i/o timeout' })
  const disclaimer = parseLogLine('2026-01-16T08:32:54Z INF Thank you for trying Cloudflare Tunnel. ... following: https://developers.cloudflare.com/cloudflare-one/connections/connect-apps')
  assert.is(disclaimer.url, undefined)
  // A terminal-coloured line (cloudflared colours its level when stderr is a tty).
  assert.is(parseLogLine('\x1b[90m2026-01-16T08:32:58Z\x1b[0m \x1b[32mINF\x1b[0m |  https://a-b-c-d.trycloudflare.com  |').url, 'https://a-b-c-d.trycloudflare.com')
})

test('a registered connection, in the current and the older wording; levels', () => {
  assert.ok(parseLogLine('2026-09-30T07:31:18Z INF Registered tunnel connection connIndex=0 connection=bb527b3a-8a27-467b-9fca-84972898be5c event=0 ip=198.41.200.13 location=del04 protocol=quic').connected)
  assert.ok(parseLogLine('2021-03-01T10:00:00Z INF Connection 5c2a8e1f-0d9b-4c7e-9d0e-1f2a3b4c5d6e registered connIndex=0 location=LHR').connected)
  assert.not.ok(parseLogLine('2026-09-30T07:40:00Z INF Unregistered tunnel connection connIndex=0 event=0').connected)
  assert.equal(['DBG', 'INF', 'WRN', 'ERR', 'FTL'].map((l) => parseLogLine(`2026-01-01T00:00:00Z ${l} x`).level), ['debug', 'info', 'warn', 'error', 'error'])
  assert.equal(parseLogLine('setpriv: failed to execute cloudflared: No such file or directory'), { level: 'info', message: 'setpriv: failed to execute cloudflared: No such file or directory' })
})

test('command lines', () => {
  const cfg = (set: Record<string, string>) => loadConfig({ argv: Object.entries({ 'tunnel.cloudflared.enabled': 'true', ...set }).flatMap(([k, v]) => ['--set', `${k}=${v}`]), env: {} }).tunnel.cloudflared
  assert.equal(cloudflaredArgs(cfg({}), 'http://127.0.0.1:4000'), ['tunnel', '--no-autoupdate', '--grace-period', '9500ms', '--url', 'http://127.0.0.1:4000'])
  const named = cfg({ 'tunnel.cloudflared.mode': 'named', 'tunnel.cloudflared.configFile': '/etc/c.yml', 'tunnel.cloudflared.credentialsFile': '/etc/t.json', 'tunnel.cloudflared.name': 'nestbox', 'tunnel.cloudflared.stopTimeoutMs': '30000' })
  assert.equal(cloudflaredArgs(named, 'unused'), ['tunnel', '--no-autoupdate', '--grace-period', '29500ms', '--config', '/etc/c.yml', 'run', '--credentials-file', '/etc/t.json', 'nestbox'])
  const token = cfg({ 'tunnel.cloudflared.mode': 'named', 'tunnel.cloudflared.tokenFile': '/etc/nestbox/token' })
  assert.equal(cloudflaredArgs(token, 'unused'), ['tunnel', '--no-autoupdate', '--grace-period', '9500ms', 'run', '--token-file', '/etc/nestbox/token'])
})

test('cloudflared reaches nestbox on loopback when it listens everywhere, else where it listens', () => {
  assert.is(originUrl('0.0.0.0', 4000), 'http://127.0.0.1:4000')
  assert.is(originUrl('', 4000), 'http://127.0.0.1:4000')
  assert.is(originUrl('::', 4000), 'http://[::1]:4000')
  assert.is(originUrl('10.0.0.5', 80), 'http://10.0.0.5:80')
  assert.is(originUrl('fd00::5', 80), 'http://[fd00::5]:80')
  assert.is(originUrl('nb.lan', 4000), 'http://nb.lan:4000')
})

test.run()
