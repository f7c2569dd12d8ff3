/**
 * Links nestbox hands out come from configuration, never from the request (issue 9 §4):
 * a client that sends `Host: attacker.example` must not get a reset, activation or
 * OAuth link pointing there. With publicUrl https, links and Secure cookies follow it.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { request } from 'node:http'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startFakeGithub } from './fake-github.ts'
import { Browser, mailsTo, newUser } from './helpers.ts'

const EVIL = 'attacker.example'
/** Every header a proxy-aware server might build an origin from, all pointing at the attacker. */
const FORGED = { host: EVIL, 'x-forwarded-host': EVIL, forwarded: `host=${EVIL};proto=https`, 'x-forwarded-server': EVIL }

type Raw = { status: number; location: string; cookies: string[]; body: string }

/** A request with a chosen Host header (fetch does not let a caller set one). */
function rawRequest(base: string, method: string, path: string, headers: Record<string, string>, json?: unknown): Promise<Raw> {
  const u = new URL(base)
  const body = json === undefined ? undefined : JSON.stringify(json)
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { ...headers, ...(body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode!, location: String(res.headers.location ?? ''), cookies: res.headers['set-cookie'] ?? [], body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** The newest mail to `to`, decoded. */
function lastMailTo(nb: TestNestbox, to: string): string {
  const all = mailsTo(nb.dataDir, to)
  assert.ok(all.length, `a mail to ${to}`)
  return all.at(-1)!
}

function linkIn(mail: string, kind: 'activate' | 'reset-password'): string {
  const m = new RegExp(`(\\S+)/${kind}\\?token=[A-Za-z0-9_-]+`).exec(mail)
  assert.ok(m, `a ${kind} link in:\n${mail}`)
  return m![0]
}

let gh: Awaited<ReturnType<typeof startFakeGithub>>
let nb: TestNestbox
let pub: TestNestbox
const PUBLIC = 'https://nb.example.test'

test.before(async () => {
  gh = await startFakeGithub({ id: 'client-1', secret: 'secret-1' })
  const common = { 'identity.oauth.github.clientId': 'client-1', 'identity.oauth.github.clientSecret': 'secret-1', 'identity.oauth.github.baseUrl': gh.url, 'identity.rateLimit.signupPerIp': 1000, 'identity.rateLimit.loginPerIp': 1000 }
  nb = await startTestNestbox({ set: common })
  pub = await startTestNestbox({ set: { ...common, publicUrl: PUBLIC + '/' } })
})
test.after(async () => {
  await nb?.close()
  await pub?.close()
  await gh?.close()
})

test('a password reset requested with a forged Host mails a link to this server', async () => {
  await newUser(nb, 'victim@example.com')
  const r = await rawRequest(nb.url, 'POST', '/v1/me/password/reset', FORGED, { email: 'victim@example.com' })
  assert.is(r.status, 204, r.body)
  const mail = lastMailTo(nb, 'victim@example.com')
  assert.ok(linkIn(mail, 'reset-password').startsWith(`${nb.url}/reset-password?token=`), mail)
  assert.not.match(mail, EVIL)
})

test('signup on both surfaces with a forged Host mails an activation link to this server', async () => {
  const v1 = await rawRequest(nb.url, 'POST', '/v1/auth/signup', FORGED, { email: 'new1@example.com', password: 'correct horse battery', name: 'New' })
  assert.is(v1.status, 201, v1.body)
  const api = await rawRequest(nb.url, 'POST', '/api/auth/register', FORGED, { email: 'new2@example.com', password: 'correct horse battery', name: 'New' })
  assert.is(api.status, 201, api.body)
  for (const to of ['new1@example.com', 'new2@example.com']) {
    const mail = lastMailTo(nb, to)
    assert.ok(linkIn(mail, 'activate').startsWith(`${nb.url}/activate?token=`), mail)
    assert.not.match(mail, EVIL)
  }
})

test('OAuth redirect_uri and the redirect back to the app ignore a forged Host', async () => {
  for (const [start, callback] of [['/auth/oauth/github', '/auth/oauth/github/callback'], ['/api/auth/oidc/github', '/api/auth/oidc/github/callback']]) {
    const r = await rawRequest(nb.url, 'GET', start, FORGED)
    assert.is(r.status, 302, r.body)
    const loc = new URL(r.location)
    assert.is(loc.origin, gh.url)
    assert.is(loc.searchParams.get('redirect_uri'), nb.url + callback)
    // A callback that fails (unknown state) still sends the browser to the configured app, not to the Host.
    const back = await rawRequest(nb.url, 'GET', `${callback}?state=forged&code=x`, FORGED)
    assert.is(back.status, 302)
    assert.ok(back.location.startsWith(nb.url + '/'), back.location)
    assert.match(back.location, /error=invalid_state/)
  }
  // Linking a provider from a signed-in session.
  const u = await newUser(nb, 'linker@example.com')
  const connect = await rawRequest(nb.url, 'GET', '/v1/me/providers/github/connect', { ...FORGED, cookie: u.b.cookieHeader() })
  assert.is(connect.status, 200, connect.body)
  assert.is(new URL(JSON.parse(connect.body).auth_url).searchParams.get('redirect_uri'), nb.url + '/auth/oauth/github/callback')
})

test('with publicUrl https, links use it (trailing slash dropped) and session cookies are Secure', async () => {
  await newUser(pub, 'pub@example.com')
  assert.is((await rawRequest(pub.url, 'POST', '/v1/me/password/reset', FORGED, { email: 'pub@example.com' })).status, 204)
  assert.ok(linkIn(lastMailTo(pub, 'pub@example.com'), 'reset-password').startsWith(`${PUBLIC}/reset-password?token=`))
  const start = await rawRequest(pub.url, 'GET', '/auth/oauth/github', FORGED)
  assert.is(new URL(start.location).searchParams.get('redirect_uri'), PUBLIC + '/auth/oauth/github/callback')
  assert.ok(start.cookies.length >= 2)
  for (const c of start.cookies) assert.match(c, /; Secure/i, c)
  const back = await rawRequest(pub.url, 'GET', '/auth/oauth/github/callback?state=forged&code=x', FORGED)
  assert.ok(back.location.startsWith(PUBLIC + '/auth/github/callback?error='), back.location)
  assert.ok(back.cookies.length >= 2)
  for (const c of back.cookies) assert.match(c, /; Secure/i, `flow cookies are cleared with Secure too: ${c}`)

  // Plain http on the socket, no X-Forwarded-Proto: Secure comes from the public URL alone.
  const creds = { email: pub.bootstrap.admin_email, password: pub.bootstrap.admin_password }
  const wrenn = await new Browser(pub.url).post('/v1/auth/login', creds)
  assert.is(wrenn.status, 200)
  const workspace = await new Browser(pub.url).post('/api/auth/login', creds)
  assert.is(workspace.status, 200)
  const set = [...wrenn.headers.getSetCookie(), ...workspace.headers.getSetCookie()]
  for (const name of ['wrenn_sid', 'wrenn_csrf', 'nestbox_session']) assert.match(set.find((c) => c.startsWith(name + '='))!, /; Secure/i, name)
  const b = new Browser(pub.url)
  await b.post('/v1/auth/login', creds)
  const out = await b.post('/v1/auth/logout')
  assert.is(out.status, 204)
  for (const c of out.headers.getSetCookie()) assert.match(c, /; Secure/i, 'cleared with the same attributes')
})

test.run()
