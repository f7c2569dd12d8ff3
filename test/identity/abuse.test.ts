import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { Browser, PASSWORD } from './helpers.ts'

let nb: TestNestbox
test.before(async () => {
  nb = await startTestNestbox({
    set: {
      'identity.rateLimit.windowSec': 60,
      'identity.rateLimit.loginPerAccount': 3,
      'identity.rateLimit.loginPerIp': 8,
      'identity.rateLimit.signupPerIp': 3,
      'identity.rateLimit.trustForwardedFor': true,
    },
  })
})
test.after(() => nb.close())

const login = (email: string, password: string, ip: string) =>
  new Browser(nb.url).post('/v1/auth/login', { email, password }, { headers: { 'x-forwarded-for': ip } })

test('failed logins per account: 429 with Retry-After, even with the right password, from any address', async () => {
  const email = nb.bootstrap.admin_email
  for (let i = 0; i < 3; i++) assert.is((await login(email, 'wrong password', `10.0.0.${i}`)).status, 401)
  const r = await login(email, nb.bootstrap.admin_password, '10.0.1.1')
  assert.is(r.status, 429)
  const retry = Number(r.headers.get('retry-after'))
  assert.ok(retry > 0 && retry <= 60, `Retry-After ${retry}`)
  assert.is((await r.json()).error.code, 'rate_limited')
  // Unknown accounts are limited the same way, so the limit does not reveal which emails exist.
  for (let i = 0; i < 3; i++) assert.is((await login('ghost@example.com', 'wrong password', `10.0.2.${i}`)).status, 401)
  assert.is((await login('ghost@example.com', 'wrong password', '10.0.2.9')).status, 429)
})

test('logins per client address', async () => {
  const ip = '10.9.9.9'
  let last = 0
  for (let i = 0; i < 9; i++) last = (await login(`user${i}@example.com`, 'whatever pw', ip)).status
  assert.is(last, 429, 'the 9th login from one address in the window')
  assert.is((await login('user0@example.com', 'whatever pw', '10.9.9.10')).status, 401, 'another address is not affected')
})

test('signups per client address', async () => {
  const b = new Browser(nb.url)
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await b.post('/v1/auth/signup', { email: `s${i}@example.com`, password: PASSWORD, name: 'S' }, { headers: { 'x-forwarded-for': '10.7.7.7' } })).status)
  assert.equal(statuses, [201, 201, 201, 429])
})

test('signups per email address, from any client address', async () => {
  const b = new Browser(nb.url)
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await b.post('/v1/auth/signup', { email: 'same@example.com', password: PASSWORD, name: 'S' }, { headers: { 'x-forwarded-for': `10.8.0.${i}` } })).status)
  assert.equal(statuses, [201, 409, 409, 429])
})

test('password reset answers 204 for known and unknown emails alike', async () => {
  const b = new Browser(nb.url)
  const known = await b.post('/v1/me/password/reset', { email: nb.bootstrap.admin_email }, { headers: { 'x-forwarded-for': '10.5.5.1' } })
  const unknown = await b.post('/v1/me/password/reset', { email: 'nobody@example.com' }, { headers: { 'x-forwarded-for': '10.5.5.2' } })
  assert.equal([known.status, unknown.status], [204, 204])
  assert.equal([await known.text(), await unknown.text()], ['', ''])
})

test.run()
