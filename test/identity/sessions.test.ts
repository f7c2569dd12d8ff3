import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { Browser, newUser, PASSWORD } from './helpers.ts'

let nb: TestNestbox
test.before(async () => {
  nb = await startTestNestbox({ set: { 'identity.rateLimit.signupPerIp': 1000, 'identity.rateLimit.loginPerIp': 1000 } })
})
test.after(() => nb.close())

test('non-GET requests with a session need X-CSRF-Token equal to the wrenn_csrf cookie', async () => {
  const { b } = await newUser(nb, 'csrf@example.com')
  assert.is((await b.get('/v1/me')).status, 200, 'GET needs no CSRF token')
  const none = await b.patch('/v1/me', { name: 'X' }, { csrf: false })
  assert.is(none.status, 403)
  assert.is((await none.json()).error.code, 'csrf_failed')
  const wrong = await b.patch('/v1/me', { name: 'X' }, { headers: { 'x-csrf-token': 'forged' } })
  assert.is(wrong.status, 403)
  // A forged pair (header = cookie, but not the session's token) is refused too.
  const forged = await b.patch('/v1/me', { name: 'X' }, { headers: { 'x-csrf-token': 'aaaa', cookie: `wrenn_sid=${b.jar.get('wrenn_sid')}; wrenn_csrf=aaaa` } })
  assert.is(forged.status, 403)
  assert.is((await b.patch('/v1/me', { name: 'X' })).status, 204)
  // API keys need no CSRF token.
  const key = await (await b.post('/v1/api-keys', { name: 'k' })).json()
  assert.is((await fetch(nb.url + '/v1/me', { method: 'PATCH', headers: { 'x-api-key': key.key, 'content-type': 'application/json' }, body: '{"name":"Y"}' })).status, 403, 'account changes need a session')
  assert.is((await fetch(nb.url + '/v1/api-keys', { method: 'POST', headers: { 'x-api-key': key.key, 'content-type': 'application/json' }, body: '{}' })).status, 201)
})

test('list sessions, revoke one, logout, logout-all', async () => {
  const { b } = await newUser(nb, 'multi@example.com')
  const phone = new Browser(nb.url)
  assert.is((await phone.post('/v1/auth/login', { email: 'multi@example.com', password: PASSWORD }, { headers: { 'user-agent': 'phone/1.0' } })).status, 200)
  const laptop = new Browser(nb.url)
  assert.is((await laptop.post('/v1/auth/login', { email: 'multi@example.com', password: PASSWORD })).status, 200)
  const list = (await (await b.get('/v1/me/sessions')).json()).sessions
  assert.is(list.length, 3)
  assert.is(list.filter((s: { current: boolean }) => s.current).length, 1)
  const phoneSession = list.find((s: { user_agent: string }) => s.user_agent === 'phone/1.0')
  assert.ok(phoneSession)
  assert.ok(phoneSession.ip_address)
  for (const f of ['created_at', 'last_seen_at', 'expires_at']) assert.ok(!Number.isNaN(Date.parse(phoneSession[f])), f)
  assert.match(phoneSession.id, /^ses-/)
  assert.is(Date.parse(phoneSession.expires_at) - Date.parse(phoneSession.created_at), 24 * 3600 * 1000)
  assert.is((await b.del(`/v1/me/sessions/${phoneSession.id}`)).status, 204)
  assert.is((await phone.get('/v1/me')).status, 401)
  // Another user's session id is "not found".
  const other = await newUser(nb, 'other-user@example.com')
  assert.is((await other.b.del(`/v1/me/sessions/${list.find((s: { current: boolean }) => s.current).id}`)).status, 404)
  // logout ends only the current session and clears cookies.
  const out = await laptop.post('/v1/auth/logout')
  assert.is(out.status, 204)
  assert.ok(out.headers.getSetCookie().some((c) => /^wrenn_sid=;/.test(c) && /Max-Age=0/i.test(c)))
  assert.is((await laptop.get('/v1/me')).status, 401)
  assert.is((await b.get('/v1/me')).status, 200)
  const tablet = new Browser(nb.url)
  await tablet.post('/v1/auth/login', { email: 'multi@example.com', password: PASSWORD })
  assert.is((await b.post('/v1/auth/logout-all')).status, 204)
  assert.is((await b.get('/v1/me')).status, 401)
  assert.is((await tablet.get('/v1/me')).status, 401)
})

test('switch-team rotates the session id and rescopes the session', async () => {
  const owner = await newUser(nb, 'switch-owner@example.com')
  const { b, team_id: home } = await newUser(nb, 'switcher@example.com')
  assert.is((await owner.b.post(`/v1/teams/${owner.team_id}/members`, { email: 'switcher@example.com' })).status, 201)
  const oldSid = b.jar.get('wrenn_sid')!
  const oldCsrf = b.jar.get('wrenn_csrf')!
  const r = await b.post('/v1/auth/switch-team', { team_id: owner.team_id })
  assert.is(r.status, 200)
  const body = await r.json()
  assert.equal([body.team_id, body.role, body.email], [owner.team_id, 'member', 'switcher@example.com'])
  assert.is.not(b.jar.get('wrenn_sid'), oldSid)
  assert.is.not(b.jar.get('wrenn_csrf'), oldCsrf)
  assert.is((await fetch(nb.url + '/v1/me', { headers: { cookie: `wrenn_sid=${oldSid}` } })).status, 401, 'old sid revoked')
  assert.is((await (await b.get('/v1/me')).json()).team_id, owner.team_id)
  const stranger = await newUser(nb, 'stranger@example.com')
  const no = await b.post('/v1/auth/switch-team', { team_id: stranger.team_id })
  assert.is(no.status, 403)
  assert.is((await b.post('/v1/auth/switch-team', { team_id: 'team-doesnotexist' })).status, 404)
  assert.is((await b.post('/v1/auth/switch-team', { team_id: home })).status, 200)
})

test('an unknown or tampered cookie is simply anonymous', async () => {
  assert.is((await fetch(nb.url + '/v1/me', { headers: { cookie: 'wrenn_sid=garbage' } })).status, 401)
  // Public endpoints still work with a stale cookie.
  assert.is((await fetch(nb.url + '/v1/me/password/reset', { method: 'POST', headers: { cookie: 'wrenn_sid=garbage', 'content-type': 'application/json' }, body: '{"email":"x@example.com"}' })).status, 204)
})

test('idle and absolute lifetimes', async () => {
  const short = await startTestNestbox({ set: { 'identity.sessions.idleSec': 1, 'identity.sessions.absoluteSec': 3 } })
  try {
    const a = await adminLogin(short)
    await sleep(1300)
    assert.is((await a.get('/v1/me')).status, 401, 'idle > 1 s')
    const t0 = Date.now()
    const b = await adminLogin(short)
    let endedAt = 0
    while (Date.now() - t0 < 5000) {
      await sleep(500)
      const st = (await b.get('/v1/me')).status
      if (st === 401) {
        endedAt = Date.now() - t0
        break
      }
      assert.is(st, 200, 'kept alive by use')
    }
    assert.ok(endedAt >= 2900 && endedAt < 4600, `absolute lifetime ends the session at ~3 s even when used (${endedAt} ms)`)
    assert.is(await short.services.identity.sweep().then((r) => r.sessions >= 0), true)
    const left = await short.services.db.selectFrom('sessions').selectAll().execute()
    assert.is(left.length, 0, 'expired sessions are deleted')
  } finally {
    await short.close()
  }
})

async function adminLogin(t: TestNestbox) {
  const b = new Browser(t.url)
  assert.is((await b.post('/v1/auth/login', { email: t.bootstrap.admin_email, password: t.bootstrap.admin_password })).status, 200)
  return b
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test.run()
