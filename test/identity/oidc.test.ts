/**
 * Generic OIDC end to end against a real OpenID Provider (the oidc-provider
 * package) on loopback: discovery, authorization code + PKCE + nonce, ID token
 * validation by openid-client, on both the Wrenn and the workspace surfaces.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { Browser, newUser } from './helpers.ts'

let op: Server
let issuer: string
let nb: TestNestbox
const APP = 'http://app.test'

test.before(async () => {
  op = createServer()
  await new Promise<void>((r) => op.listen(0, '127.0.0.1', r))
  issuer = `http://127.0.0.1:${(op.address() as AddressInfo).port}`
  nb = await startTestNestbox({
    set: {
      'identity.oauth.oidc.issuer': issuer,
      'identity.oauth.oidc.clientId': 'nestbox',
      'identity.oauth.oidc.clientSecret': 'nestbox-secret',
      'identity.oauth.oidc.allowInsecure': true,
      'identity.appUrl': APP,
    },
  })
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'nestbox',
        client_secret: 'nestbox-secret',
        redirect_uris: [`${nb.url}/auth/oauth/oidc/callback`, `${nb.url}/api/auth/oidc/generic/callback`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    // Any login works in devInteractions; the account's claims derive from the login name.
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: `sub-${id}`, email: `${id}@oidc.test`, email_verified: true, name: `OIDC ${id}` }),
    }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    cookies: { keys: ['test-cookie-key'] },
    features: { devInteractions: { enabled: true } },
  })
  op.on('request', provider.callback())
})
test.after(async () => {
  await nb.close()
  op.closeAllConnections()
  await new Promise<void>((r) => op.close(() => r()))
})

/** Plays the user at the provider: follows redirects, signs in as `login`, consents; returns nestbox's callback URL. */
async function atProvider(start: string, login: string): Promise<string> {
  const jar = new Browser(issuer)
  let url = start
  for (let i = 0; i < 20; i++) {
    if (!url.startsWith(issuer)) return url
    const res = await jar.get(url)
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url).toString()
      continue
    }
    const html = await res.text()
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1]
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1]
    assert.ok(action && prompt, `expected a form at ${url}: ${res.status} ${html.slice(0, 200)}`)
    const form = new URLSearchParams({ prompt: prompt! })
    if (prompt === 'login') {
      form.set('login', login)
      form.set('password', 'anything')
    }
    const res2 = await fetch(new URL(action!.replace(/&amp;/g, '&'), url), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.cookieHeader() },
      body: form,
    })
    jar.absorb(res2)
    url = new URL(res2.headers.get('location')!, url).toString()
  }
  throw new Error('provider flow did not finish')
}

test('Wrenn surface: OIDC login creates the account, then logs into it again', async () => {
  const b = new Browser(nb.url)
  const start = await b.get('/auth/oauth/oidc')
  assert.is(start.status, 302)
  const authUrl = new URL(start.headers.get('location')!)
  assert.is(authUrl.origin, issuer, 'authorization endpoint from discovery')
  assert.is(authUrl.searchParams.get('code_challenge_method'), 'S256')
  assert.ok(authUrl.searchParams.get('nonce'))
  const callback = await atProvider(authUrl.toString(), 'alice')
  assert.ok(callback.startsWith(`${nb.url}/auth/oauth/oidc/callback?`), callback)
  const done = await b.get(callback)
  assert.is(done.status, 302)
  assert.is(done.headers.get('location'), `${APP}/auth/oidc/callback`)
  const me = await (await b.get('/v1/me')).json()
  assert.equal([me.email, me.name, me.providers, me.has_password, me.role], ['alice@oidc.test', 'OIDC alice', ['oidc'], false, 'owner'])

  const again = new Browser(nb.url)
  const s2 = await again.get('/auth/oauth/oidc')
  const cb2 = await atProvider(s2.headers.get('location')!, 'alice')
  assert.is((await again.get(cb2)).headers.get('location'), `${APP}/auth/oidc/callback`)
  assert.is((await (await again.get('/v1/me')).json()).id, me.id)
})

test('a tampered code fails the exchange; the state is single use', async () => {
  const b = new Browser(nb.url)
  const s = await b.get('/auth/oauth/oidc')
  const cb = await atProvider(s.headers.get('location')!, 'mallory')
  const bad = cb.replace(/code=[^&]+/, 'code=forged')
  const r = await b.get(bad)
  assert.is(new URL(r.headers.get('location')!).searchParams.get('error'), 'exchange_failed')
  assert.is((await b.get('/v1/me')).status, 401)
})

test('a signed-in account links the OIDC identity, then signs in with it', async () => {
  const u = await newUser(nb, 'carol@example.com', 'Carol')
  const r = await u.b.get('/v1/me/providers/oidc/connect')
  assert.is(r.status, 200)
  const cb = await atProvider((await r.json()).auth_url, 'carol')
  assert.is((await u.b.get(cb)).headers.get('location'), `${APP}/auth/oidc/callback`)
  assert.equal((await (await u.b.get('/v1/me')).json()).providers, ['oidc'])
  const other = new Browser(nb.url)
  const s = await other.get('/auth/oauth/oidc')
  assert.is((await other.get(await atProvider(s.headers.get('location')!, 'carol'))).headers.get('location'), `${APP}/auth/oidc/callback`)
  assert.is((await (await other.get('/v1/me')).json()).id, u.user_id, 'the OIDC email differs, yet the link finds the account')
})

test('workspace surface: /api/auth/oidc/generic logs in with the workspace cookie', async () => {
  const b = new Browser(nb.url)
  const s = await b.get('/api/auth/oidc/generic')
  assert.is(s.status, 302)
  const cb = await atProvider(s.headers.get('location')!, 'bob')
  assert.ok(cb.startsWith(`${nb.url}/api/auth/oidc/generic/callback?`), cb)
  const done = await b.get(cb)
  assert.is(done.headers.get('location'), `${APP}/`)
  const sid = done.headers.getSetCookie().find((c) => c.startsWith('nestbox_session='))!
  assert.match(sid, /HttpOnly/i)
  assert.match(sid, /SameSite=Lax/i)
  const me = await (await b.get('/api/auth/me')).json()
  assert.equal([me.email, me.providers], ['bob@oidc.test', ['oidc']])
  const ws = await (await b.get('/api/workspaces')).json()
  assert.equal(ws.map((w: { role: string }) => w.role), ['owner'])
  // The workspace cookie is not a Wrenn session.
  assert.is((await b.get('/v1/me')).status, 401)
})

test.run()
