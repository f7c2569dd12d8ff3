import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startFakeGithub, type GithubUser } from './fake-github.ts'
import { Browser, newUser, PASSWORD } from './helpers.ts'

let gh: Awaited<ReturnType<typeof startFakeGithub>>
let nb: TestNestbox
const APP = 'http://app.test'

test.before(async () => {
  gh = await startFakeGithub({ id: 'client-1', secret: 'secret-1' })
  nb = await startTestNestbox({
    set: {
      'identity.oauth.github.clientId': 'client-1',
      'identity.oauth.github.clientSecret': 'secret-1',
      'identity.oauth.github.baseUrl': gh.url, // GitHub Enterprise style: API at <base>/api/v3
      'identity.appUrl': APP,
      'identity.rateLimit.signupPerIp': 1000,
    },
  })
})
test.after(async () => {
  await nb.close()
  await gh.close()
})

const octo: GithubUser = { id: 4242, login: 'octo', name: 'Octo Cat', emails: [{ email: 'octo@users.test', primary: true, verified: true }] }

/** Drives the browser through start → provider → callback; returns the final redirect target. */
async function oauthLogin(b: Browser, user: GithubUser, start = '/auth/oauth/github') {
  gh.state.nextUser = user
  const r1 = start.startsWith('http') ? await b.get(start) : await b.get(start)
  const providerUrl = r1.status === 200 ? (await r1.json()).auth_url : r1.headers.get('location')!
  assert.ok(providerUrl.startsWith(gh.url + '/login/oauth/authorize?'), providerUrl)
  const r2 = await fetch(providerUrl, { redirect: 'manual' })
  assert.is(r2.status, 302)
  const callback = r2.headers.get('location')!
  assert.ok(callback.startsWith(nb.url + '/auth/oauth/github/callback?'), callback)
  const r3 = await b.get(callback)
  assert.is(r3.status, 302)
  return r3.headers.get('location')!
}

test('start sets a state cookie and redirects to the configured (Enterprise) base URL', async () => {
  const b = new Browser(nb.url)
  const r = await b.get('/auth/oauth/github')
  assert.is(r.status, 302)
  const loc = new URL(r.headers.get('location')!)
  assert.is(loc.origin + loc.pathname, gh.url + '/login/oauth/authorize')
  assert.is(loc.searchParams.get('client_id'), 'client-1')
  assert.is(loc.searchParams.get('redirect_uri'), nb.url + '/auth/oauth/github/callback')
  const cookie = r.headers.getSetCookie().find((c) => c.startsWith('wrenn_oauth_state='))!
  assert.match(cookie, /HttpOnly/i)
  assert.match(cookie, /SameSite=Lax/i)
  assert.is(cookie.split(';')[0].split('=')[1], loc.searchParams.get('state'))
  const missing = await b.get('/auth/oauth/gitlab')
  assert.is(missing.status, 404)
  assert.is((await missing.json()).error.code, 'provider_not_found')
})

test('first login creates an active, password-less account with a team; the next one finds it', async () => {
  const b = new Browser(nb.url)
  assert.is(await oauthLogin(b, octo), `${APP}/auth/github/callback`)
  const me = await (await b.get('/v1/me')).json()
  assert.equal([me.email, me.name, me.has_password, me.providers, me.role], ['octo@users.test', 'Octo Cat', false, ['github'], 'owner'])
  const again = new Browser(nb.url)
  await oauthLogin(again, octo)
  assert.is((await (await again.get('/v1/me')).json()).id, me.id)
})

test('callback errors redirect with the seed error codes', async () => {
  const errorOf = (loc: string) => new URL(loc).searchParams.get('error')
  const b = new Browser(nb.url)
  // state not matching the cookie
  gh.state.nextUser = octo
  const start = await b.get('/auth/oauth/github')
  const cb = (await fetch(start.headers.get('location')!, { redirect: 'manual' })).headers.get('location')!
  const forged = cb.replace(/state=[^&]+/, 'state=forged')
  assert.is(errorOf((await b.get(forged)).headers.get('location')!), 'invalid_state')
  // no state cookie at all (another browser)
  assert.is(errorOf((await new Browser(nb.url).get(cb)).headers.get('location')!), 'invalid_state')
  // provider said no
  const s2 = await b.get('/auth/oauth/github')
  const st = new URL(s2.headers.get('location')!).searchParams.get('state')
  assert.is(errorOf((await b.get(`/auth/oauth/github/callback?error=access_denied&state=${st}`)).headers.get('location')!), 'access_denied')
  // no code
  const s3 = await b.get('/auth/oauth/github')
  const st3 = new URL(s3.headers.get('location')!).searchParams.get('state')
  assert.is(errorOf((await b.get(`/auth/oauth/github/callback?state=${st3}`)).headers.get('location')!), 'missing_code')
  // a code the provider does not know
  const s4 = await b.get('/auth/oauth/github')
  const st4 = new URL(s4.headers.get('location')!).searchParams.get('state')
  assert.is(errorOf((await b.get(`/auth/oauth/github/callback?code=nope&state=${st4}`)).headers.get('location')!), 'exchange_failed')
  // a state is single use: replaying a consumed callback fails
  const ok = new Browser(nb.url)
  gh.state.nextUser = octo
  const s5 = await ok.get('/auth/oauth/github')
  const cb5 = (await fetch(s5.headers.get('location')!, { redirect: 'manual' })).headers.get('location')!
  const stateCookie = ok.jar.get('wrenn_oauth_state')!
  assert.is((await ok.get(cb5)).headers.get('location'), `${APP}/auth/github/callback`)
  const replay = await fetch(cb5, { redirect: 'manual', headers: { cookie: `wrenn_oauth_state=${stateCookie}` } })
  assert.is(errorOf(replay.headers.get('location')!), 'invalid_state')
})

test('an email owned by a password account is not taken over by login (email_taken); linking is explicit', async () => {
  const u = await newUser(nb, 'linker@example.com')
  const gUser: GithubUser = { id: 777, login: 'linker', name: 'Linker', emails: [{ email: 'linker@example.com', primary: true, verified: true }] }
  const stranger = new Browser(nb.url)
  assert.is(new URL(await oauthLogin(stranger, gUser)).searchParams.get('error'), 'email_taken')
  assert.is((await stranger.get('/v1/me')).status, 401)
  // Linking from the signed-in account.
  assert.is(await oauthLogin(u.b, gUser, '/v1/me/providers/github/connect'), `${APP}/auth/github/callback`)
  assert.equal((await (await u.b.get('/v1/me')).json()).providers, ['github'])
  const viaGithub = new Browser(nb.url)
  await oauthLogin(viaGithub, gUser)
  assert.is((await (await viaGithub.get('/v1/me')).json()).id, u.user_id)
  // The same GitHub account cannot be linked to a second user.
  const other = await newUser(nb, 'other-linker@example.com')
  assert.is(new URL(await oauthLogin(other.b, gUser, '/v1/me/providers/github/connect')).searchParams.get('error'), 'provider_in_use')
  // Unlink: allowed (password remains), then 404.
  assert.is((await u.b.del('/v1/me/providers/github')).status, 204)
  assert.is((await u.b.del('/v1/me/providers/github')).status, 404)
})

test('unlinking the last login method is refused until a password is added', async () => {
  const solo: GithubUser = { id: 999, login: 'solo', name: 'Solo', emails: [{ email: 'solo@users.test', primary: true, verified: true }] }
  const b = new Browser(nb.url)
  await oauthLogin(b, solo)
  const r = await b.del('/v1/me/providers/github')
  assert.is(r.status, 400)
  assert.is((await r.json()).error.code, 'last_login_method')
  assert.is((await b.post('/v1/me/password', { new_password: PASSWORD, confirm_password: 'different pw' })).status, 400)
  assert.is((await b.post('/v1/me/password', { new_password: PASSWORD, confirm_password: PASSWORD })).status, 204)
  const pw = new Browser(nb.url)
  assert.is((await pw.post('/v1/auth/login', { email: 'solo@users.test', password: PASSWORD })).status, 200)
  assert.is((await (await pw.get('/v1/me')).json()).has_password, true)
  assert.is((await pw.del('/v1/me/providers/github')).status, 204)
})

test('an unverified GitHub email cannot create an account', async () => {
  const b = new Browser(nb.url)
  const loc = await oauthLogin(b, { id: 31337, login: 'nv', name: 'NV', emails: [{ email: 'nv@users.test', primary: true, verified: false }] })
  assert.is(new URL(loc).searchParams.get('error'), 'email_required')
})

test.run()
