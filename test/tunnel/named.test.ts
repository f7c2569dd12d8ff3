/**
 * A named tunnel run from the user's config.yml (the README's ingress: the main
 * host and *.baseDomain to nestbox): the command line cloudflared documents, the
 * public URL taken from the first plain ingress hostname and kept across
 * restarts, requests for both hosts reaching nestbox through the stand-in's
 * edge. And publicUrl, when set, wins over any tunnel.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer } from 'node:net'
import { request } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { adminBrowser } from '../identity/helpers.ts'
import { alive, until, writeStandIn, type StandIn } from './standin.ts'

const dir = mkdtempSync(join(tmpdir(), 'nestbox-tunnel-named-'))
const standIns: StandIn[] = []
const servers: TestNestbox[] = []

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })

function viaEdge(port: number, host: string, path: string) {
  return new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }))
    })
      .on('error', reject)
      .end()
  })
}

async function boot(set: Record<string, string | number | boolean>) {
  const cf = writeStandIn()
  standIns.push(cf)
  const nb = await startTestNestbox({ set: { 'tunnel.cloudflared.enabled': true, 'tunnel.cloudflared.path': cf.path, 'identity.rateLimit.loginPerIp': 1000, ...set } })
  servers.push(nb)
  const admin = await adminBrowser(nb)
  const running = (not?: number) =>
    until('a running tunnel', async () => {
      const s = (await (await admin.get('/v1/admin/tunnel')).json()) as Record<string, any>
      return s.state === 'running' && s.pid !== not && s
    })
  return { nb, cf, running }
}

test('a named tunnel: documented command line, URL from the ingress, main host and *.baseDomain reach nestbox', async () => {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const creds = join(dir, '6ff42ae2-765d-4adf-8112-31c55c1551ef.json')
  writeFileSync(creds, JSON.stringify({ AccountTag: 'acc', TunnelSecret: 'c2VjcmV0', TunnelID: '6ff42ae2-765d-4adf-8112-31c55c1551ef' }))
  const config = join(dir, 'config.yml')
  writeFileSync(
    config,
    `tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef
credentials-file: ${creds}
ingress:
  - hostname: "*.box.example.test"
    service: ${origin}
  - hostname: nb.example.test
    service: ${origin}
  - service: http_status:404
`,
  )
  const { nb, cf, running } = await boot({ 'listen.port': port, 'tunnel.cloudflared.mode': 'named', 'tunnel.cloudflared.configFile': config, 'tunnel.cloudflared.credentialsFile': creds, 'tunnel.cloudflared.restartDelayMs': 50 })
  const t = await running()
  assert.equal(cf.runs()[0].args, ['tunnel', '--no-autoupdate', '--grace-period', '9500ms', '--config', config, 'run', '--credentials-file', creds])
  assert.equal([t.mode, t.url, t.public_url, t.restarts], ['named', 'https://nb.example.test', 'https://nb.example.test', 0])

  const edge = cf.edge(t.pid).port
  const main = await viaEdge(edge, 'nb.example.test', '/v1/health')
  assert.is(main.status, 200, main.body)
  assert.match(main.body, '"status":"ok"')
  const sub = await viaEdge(edge, '3000-cap123.box.example.test', '/v1/health')
  assert.is(sub.status, 200, 'a *.baseDomain host reaches nestbox')
  assert.is((await viaEdge(edge, 'other.example.test', '/v1/health')).status, 404, 'the catch-all rule answers the rest')

  const ps = await fetch(`${nb.url}/storage/presign/uploads/a.txt`, { method: 'POST', headers: { authorization: `Bearer ${nb.bootstrap.storage_master_key}` } })
  assert.is(((await ps.json()) as { url: string }).url, 'https://nb.example.test/storage/uploads/a.txt')

  // The hostname is the tunnel's, not the process's: it stays while cloudflared restarts.
  cf.set('crash', true)
  await until('the crash', () => !alive(t.pid))
  assert.is(nb.services.site.url, 'https://nb.example.test')
  const again = await running(t.pid)
  assert.equal([again.url, again.restarts], ['https://nb.example.test', 1])
})

test('publicUrl wins over a quick tunnel for links; the tunnel URL is still shown', async () => {
  const { nb, running } = await boot({ publicUrl: 'https://nestbox.example.org' })
  const t = await running()
  assert.match(t.url, /\.trycloudflare\.com$/)
  assert.is(t.public_url, 'https://nestbox.example.org')
  assert.equal([nb.services.site.url, nb.services.site.source], ['https://nestbox.example.org', 'config'])
})

test.after(async () => {
  for (const nb of servers) await nb.close()
  for (const cf of standIns) cf.remove()
  rmSync(dir, { recursive: true, force: true })
})
test.run()
