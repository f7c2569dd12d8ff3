import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { Browser, newUser, outbox, PASSWORD, tokenFromMail } from './helpers.ts'

let nb: TestNestbox
test.before(async () => {
  nb = await startTestNestbox({ set: { 'identity.rateLimit.signupPerIp': 1000, 'identity.rateLimit.loginPerIp': 1000 } })
})
test.after(() => nb.close())

test('signup creates an inactive account and writes the activation email to the outbox', async () => {
  const b = new Browser(nb.url)
  const r = await b.post('/v1/auth/signup', { email: 'ann@example.com', password: PASSWORD, name: 'Ann' })
  assert.is(r.status, 201)
  assert.match((await r.json()).message, /email/i)
  assert.is(r.headers.getSetCookie().length, 0, 'signup does not log in')
  const mail = outbox(nb.dataDir).find((m) => /^To: ann@example.com/m.test(m))!
  assert.ok(mail, 'an .eml file was written')
  assert.match(mail, /^Subject: Activate your nestbox account/m)
  // Not active yet: the right password gets "not activated", never a session.
  const login = await b.post('/v1/auth/login', { email: 'ann@example.com', password: PASSWORD })
  assert.is(login.status, 403)
  assert.is((await login.json()).error.code, 'account_not_activated')
})

test('signup validation and the one place an email may be revealed (409)', async () => {
  const b = new Browser(nb.url)
  for (const body of [{ email: 'nope', password: PASSWORD, name: 'x' }, { email: 'short@example.com', password: '1234567', name: 'x' }, { email: 'long@example.com', password: PASSWORD, name: 'n'.repeat(101) }]) {
    const r = await b.post('/v1/auth/signup', body)
    assert.is(r.status, 400, JSON.stringify(body))
    assert.type((await r.json()).error.message, 'string')
  }
  const dup = await b.post('/v1/auth/signup', { email: 'ANN@example.com', password: PASSWORD, name: 'Ann again' })
  assert.is(dup.status, 409)
  assert.is((await dup.json()).error.code, 'email_taken')
})

test('activation logs in with a default team; the token is single-use', async () => {
  const b = new Browser(nb.url)
  const token = tokenFromMail(nb.dataDir, 'ann@example.com', 'activate')
  const r = await b.post('/v1/auth/activate', { token })
  assert.is(r.status, 200)
  const body = await r.json()
  assert.is(body.email, 'ann@example.com')
  assert.is(body.role, 'owner')
  assert.match(body.team_id, /^team-/)
  const cookies = r.headers.getSetCookie()
  const sid = cookies.find((c) => c.startsWith('wrenn_sid='))!
  assert.match(sid, /HttpOnly/i)
  assert.match(sid, /SameSite=Strict/i)
  assert.match(sid, /Path=\//)
  assert.not.match(sid, /Secure/, 'plain http: no Secure flag')
  const csrf = cookies.find((c) => c.startsWith('wrenn_csrf='))!
  assert.not.match(csrf, /HttpOnly/i, 'the app must be able to read the CSRF cookie')
  const me = await b.get('/v1/me')
  assert.is(me.status, 200)
  assert.equal({ ...(await me.json()), id: undefined }, { id: undefined, name: 'Ann', email: 'ann@example.com', has_password: true, is_admin: false, team_id: body.team_id, role: 'owner', providers: [] })
  const teams = await (await b.get('/v1/teams')).json()
  assert.is(teams.length, 1)
  assert.is(teams[0].name, 'Ann Team')
  assert.match(teams[0].slug, /^[0-9a-f]{6}-[0-9a-f]{6}$/)
  const again = await new Browser(nb.url).post('/v1/auth/activate', { token })
  assert.is(again.status, 400)
  assert.is((await again.json()).error.code, 'invalid_token')
  assert.is((await new Browser(nb.url).post('/v1/auth/activate', { token: 'bogus' })).status, 400)
})

test('an expired activation token is refused, and its email may sign up again', async () => {
  const b = new Browser(nb.url)
  assert.is((await b.post('/v1/auth/signup', { email: 'late@example.com', password: PASSWORD, name: 'Late' })).status, 201)
  const token = tokenFromMail(nb.dataDir, 'late@example.com', 'activate')
  await nb.services.db.updateTable('email_tokens').set({ expires_at: Date.now() - 1 }).execute()
  assert.is((await b.post('/v1/auth/activate', { token })).status, 400)
  assert.is((await b.post('/v1/auth/signup', { email: 'late@example.com', password: PASSWORD, name: 'Late' })).status, 201, 'cooldown over')
})

test('login: wrong password and unknown email look the same', async () => {
  const b = new Browser(nb.url)
  const wrong = await b.post('/v1/auth/login', { email: 'ann@example.com', password: 'not the password' })
  const unknown = await b.post('/v1/auth/login', { email: 'nobody@example.com', password: 'not the password' })
  assert.is(wrong.status, 401)
  assert.is(unknown.status, 401)
  const [w, u] = [(await wrong.json()).error, (await unknown.json()).error]
  assert.equal([w.code, w.message], [u.code, u.message])
  const ok = await b.post('/v1/auth/login', { email: 'Ann@Example.com', password: PASSWORD })
  assert.is(ok.status, 200)
  assert.is((await ok.json()).email, 'ann@example.com')
})

test('display name update', async () => {
  const { b } = await newUser(nb, 'name@example.com', 'Old')
  assert.is((await b.patch('/v1/me', { name: '' })).status, 400)
  assert.is((await b.patch('/v1/me', { name: 'x'.repeat(101) })).status, 400)
  assert.is((await b.patch('/v1/me', { name: 'New Name' })).status, 204)
  assert.is((await (await b.get('/v1/me')).json()).name, 'New Name')
})

test('password change needs the current password and ends every session', async () => {
  const { b } = await newUser(nb, 'pw@example.com')
  const other = new Browser(nb.url)
  assert.is((await other.post('/v1/auth/login', { email: 'pw@example.com', password: PASSWORD })).status, 200)
  assert.is((await b.post('/v1/me/password', { current_password: 'wrong password', new_password: 'another password' })).status, 401)
  assert.is((await b.post('/v1/me/password', { current_password: PASSWORD, new_password: 'short' })).status, 400)
  const r = await b.post('/v1/me/password', { current_password: PASSWORD, new_password: 'another password' })
  assert.is(r.status, 204)
  assert.is((await b.get('/v1/me')).status, 401, 'own session revoked')
  assert.is((await other.get('/v1/me')).status, 401, 'other sessions revoked')
  assert.is((await new Browser(nb.url).post('/v1/auth/login', { email: 'pw@example.com', password: PASSWORD })).status, 401)
  assert.is((await new Browser(nb.url).post('/v1/auth/login', { email: 'pw@example.com', password: 'another password' })).status, 200)
})

test('password reset: always 204, token single-use, sessions revoked', async () => {
  const { b } = await newUser(nb, 'reset@example.com')
  const anon = new Browser(nb.url)
  const before = outbox(nb.dataDir).length
  assert.is((await anon.post('/v1/me/password/reset', { email: 'ghost@example.com' })).status, 204)
  assert.is(outbox(nb.dataDir).length, before, 'no mail for an unknown address')
  assert.is((await anon.post('/v1/me/password/reset', { email: 'reset@example.com' })).status, 204)
  const token = tokenFromMail(nb.dataDir, 'reset@example.com', 'reset-password')
  assert.is((await anon.post('/v1/me/password/reset/confirm', { token, new_password: 'short' })).status, 400)
  assert.is((await anon.post('/v1/me/password/reset/confirm', { token, new_password: 'brand new secret' })).status, 204)
  assert.is((await anon.post('/v1/me/password/reset/confirm', { token, new_password: 'brand new secret 2' })).status, 400, 'single use')
  assert.is((await b.get('/v1/me')).status, 401)
  assert.is((await anon.post('/v1/auth/login', { email: 'reset@example.com', password: 'brand new secret' })).status, 200)
})

test('account deletion: confirmation, blocked while owning a team with members, soft delete', async () => {
  const owner = await newUser(nb, 'del-owner@example.com')
  const member = await newUser(nb, 'del-member@example.com')
  assert.is((await owner.b.post(`/v1/teams/${owner.team_id}/members`, { email: 'del-member@example.com' })).status, 201)
  assert.is((await owner.b.del('/v1/me', { confirmation: 'wrong@example.com' })).status, 400)
  const blocked = await owner.b.del('/v1/me', { confirmation: 'DEL-OWNER@example.com' })
  assert.is(blocked.status, 409)
  // The member can delete their account; they disappear from the team.
  assert.is((await member.b.del('/v1/me', { confirmation: 'del-member@example.com' })).status, 204)
  assert.is((await member.b.get('/v1/me')).status, 401)
  assert.is((await new Browser(nb.url).post('/v1/auth/login', { email: 'del-member@example.com', password: PASSWORD })).status, 401)
  const members = await (await owner.b.get(`/v1/teams/${owner.team_id}/members`)).json()
  assert.equal(members.map((m: { email: string }) => m.email), ['del-owner@example.com'])
  // Now the owner may go; their team goes with them and its slug stays reserved.
  assert.is((await owner.b.del('/v1/me', { confirmation: 'del-owner@example.com' })).status, 204)
  const team = await nb.services.db.selectFrom('teams').selectAll().where('id', '=', owner.team_id).executeTakeFirstOrThrow()
  assert.ok(team.deleted_at, 'team soft-deleted')
  const user = await nb.services.db.selectFrom('users').selectAll().where('id', '=', owner.user_id).executeTakeFirstOrThrow()
  assert.ok(user.deleted_at, 'user row kept (soft delete)')
  // The email is free again for a new signup.
  assert.is((await new Browser(nb.url).post('/v1/auth/signup', { email: 'del-owner@example.com', password: PASSWORD, name: 'Again' })).status, 201)
})

test('deleted accounts are purged for good after 15 days by the sweep job', async () => {
  const { b, user_id } = await newUser(nb, 'purge@example.com')
  assert.is((await b.del('/v1/me', { confirmation: 'purge@example.com' })).status, 204)
  await nb.services.identity.sweep()
  assert.ok(await nb.services.db.selectFrom('users').select('id').where('id', '=', user_id).executeTakeFirst(), 'kept within 15 days')
  await nb.services.db.updateTable('users').set({ deleted_at: Date.now() - 16 * 86_400_000 }).where('id', '=', user_id).execute()
  await nb.services.jobs.runNow('identity.sweep')
  assert.is(await nb.services.db.selectFrom('users').select('id').where('id', '=', user_id).executeTakeFirst(), undefined)
})

test('cookies get Secure when the client came over https', async () => {
  const r = await new Browser(nb.url).post('/v1/auth/login', { email: 'ann@example.com', password: PASSWORD }, { headers: { 'x-forwarded-proto': 'https' } })
  assert.is(r.status, 200)
  for (const c of r.headers.getSetCookie()) assert.match(c, /; Secure/i)
})

test('passwords are stored as scrypt hashes', async () => {
  const row = await nb.services.db.selectFrom('users').select('password_hash').where('email', '=', 'ann@example.com').executeTakeFirstOrThrow()
  assert.match(row.password_hash!, /^scrypt\$16384\$8\$1\$/)
  assert.not.match(row.password_hash!, /horse/)
})

test.run()
