/**
 * A quick tunnel end to end against the cloudflared stand-in: the URL is read
 * from its output, shown to admins by GET /v1/admin/tunnel, and becomes the
 * public URL of links (presigned storage URLs, email links) and makes session
 * cookies Secure; requests through the stand-in's edge reach nestbox; closing
 * nestbox leaves nothing running.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { request } from 'node:http'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { adminBrowser, Browser, mailsTo, newUser } from '../identity/helpers.ts'
import { alive, until, writeStandIn, type StandIn } from './standin.ts'

let cf: StandIn
let nb: TestNestbox
let admin: Browser

/** A request to the stand-in's edge as a browser on the internet would send it: Host is the tunnel's hostname. */
function viaEdge(port: number, host: string, method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host, ...headers, ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const tunnelStatus = async () => {
  const r = await admin.get('/v1/admin/tunnel')
  assert.is(r.status, 200)
  return (await r.json()) as Record<string, any>
}

test.before(async () => {
  cf = writeStandIn()
  nb = await startTestNestbox({
    set: {
      'tunnel.cloudflared.enabled': true,
      'tunnel.cloudflared.path': cf.path,
      'identity.rateLimit.signupPerIp': 1000,
      'identity.rateLimit.loginPerIp': 1000,
      'storage.buckets': JSON.stringify([{ name: 'private-files', public: false }]),
    },
  })
  admin = await adminBrowser(nb)
})
test.after(async () => {
  await nb?.close()
  cf?.remove()
})

test('the quick tunnel URL is read from the box cloudflared prints and shown to admins', async () => {
  const t = await until('the tunnel to run', async () => {
    const s = await tunnelStatus()
    return s.state === 'running' && s
  })
  const run = cf.runs()[0]
  assert.equal(run.args, ['tunnel', '--no-autoupdate', '--grace-period', '9500ms', '--url', `http://127.0.0.1:${nb.port}`])
  assert.is(t.pid, run.pid)
  assert.ok(alive(run.pid))
  assert.is(t.url, cf.edge(run.pid).url)
  assert.match(t.url, /^https:\/\/[a-z-]+-\d+\.trycloudflare\.com$/)
  assert.is(t.public_url, t.url)
  assert.equal([t.mode, t.restarts, t.last_error, t.version], ['quick', 0, null, 'cloudflared version 2025.11.1 (built 2025-11-07-16:59 UTC)'])
  assert.ok(Date.parse(t.started_at) <= Date.now())
})

test('only platform admins see the tunnel, in the Wrenn envelope', async () => {
  const anon = await fetch(`${nb.url}/v1/admin/tunnel`)
  assert.is(anon.status, 401)
  assert.is(((await anon.json()) as any).error.code, 'unauthorized')
  const key = await nb.api('/v1/admin/tunnel')
  assert.is(key.status, 403)
  assert.is(((await key.json()) as any).error.code, 'admin_required')
  const { b } = await newUser(nb, 'plain@example.com')
  const user = await b.get('/v1/admin/tunnel')
  assert.is(user.status, 403)
})

test('a presigned URL points at the tunnel and works through it', async () => {
  const { url, pid } = await tunnelStatus()
  const auth = { authorization: `Bearer ${nb.bootstrap.storage_master_key}` }
  const put = await fetch(`${nb.url}/storage/private-files/report.txt`, { method: 'PUT', headers: auth, body: 'through the tunnel' })
  assert.is(put.status, 200, await put.text())
  const ps = await fetch(`${nb.url}/storage/presign/private-files/report.txt?expires=600`, { method: 'POST', headers: auth })
  assert.is(ps.status, 200)
  const signed = new URL(((await ps.json()) as { url: string }).url)
  assert.is(signed.origin, url)
  assert.is(signed.pathname, '/storage/private-files/report.txt')
  assert.ok(signed.searchParams.get('X-Amz-Signature'))
  const edge = cf.edge(pid).port
  const got = await viaEdge(edge, signed.host, 'GET', signed.pathname + signed.search)
  assert.is(got.status, 200, got.body)
  assert.is(got.body, 'through the tunnel')
  // The signature covers the host: the same URL presented for another host is refused.
  const other = await viaEdge(edge, 'elsewhere.example', 'GET', signed.pathname + signed.search)
  assert.is(other.status, 403)
})

test('email links use the tunnel URL, whatever Host the request carried', async () => {
  const { url, pid } = await tunnelStatus()
  await newUser(nb, 'reset-me@example.com')
  const r = await viaEdge(cf.edge(pid).port, 'attacker.example', 'POST', '/v1/me/password/reset', { 'content-type': 'application/json' }, JSON.stringify({ email: 'reset-me@example.com' }))
  assert.is(r.status, 204, r.body)
  const mail = mailsTo(nb.dataDir, 'reset-me@example.com').at(-1)!
  assert.match(mail, `${url}/reset-password?token=`)
  assert.not.match(mail, 'attacker.example')
})

test('with an https tunnel URL, session cookies are Secure, also for a direct login', async () => {
  const login = await fetch(`${nb.url}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: nb.bootstrap.admin_email, password: nb.bootstrap.admin_password }) })
  assert.is(login.status, 200)
  const cookies = login.headers.getSetCookie()
  assert.ok(cookies.length >= 2)
  for (const c of cookies) assert.match(c, /; Secure/i, c)
})

test('closing nestbox stops cloudflared and what it started; links fall back to the listen address', async () => {
  const { pid } = await tunnelStatus()
  const { child } = cf.runs().find((r) => r.pid === pid)!
  assert.ok(alive(child))
  await nb.close()
  assert.not.ok(alive(pid), 'cloudflared is gone once close() resolves')
  await until('the process it started to be gone', () => !alive(child), 2000)
  assert.is(nb.services.site.source, 'listen')
  assert.is(nb.services.site.url, `http://127.0.0.1:${nb.port}`)
})

test.run()
