import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SMTPServer } from 'smtp-server'
import type { AddressInfo } from 'node:net'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { Browser, mailText, outbox, PASSWORD } from './helpers.ts'

type Received = { from: string; to: string[]; raw: string; user?: string }
const received: Received[] = []
let smtp: SMTPServer
let nb: TestNestbox

test.before(async () => {
  smtp = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: false,
    onAuth(auth, _session, cb) {
      if (auth.username === 'mailer' && auth.password === 's3cret') return cb(null, { user: auth.username })
      cb(new Error('bad credentials'))
    },
    onData(stream, session, cb) {
      let raw = ''
      stream.on('data', (d: Buffer) => (raw += d.toString()))
      stream.on('end', () => {
        received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw, user: session.user as string })
        cb()
      })
    },
  })
  await new Promise<void>((res) => smtp.listen(0, '127.0.0.1', res))
  const port = (smtp.server.address() as AddressInfo).port
  nb = await startTestNestbox({
    set: {
      'identity.mail.smtp.host': '127.0.0.1',
      'identity.mail.smtp.port': port,
      'identity.mail.smtp.user': 'mailer',
      'identity.mail.smtp.password': 's3cret',
      'identity.mail.from': 'nestbox <noreply@nestbox.test>',
      'identity.appUrl': 'https://app.nestbox.test',
    },
  })
})
test.after(async () => {
  await nb.close()
  await new Promise<void>((res) => smtp.close(() => res()))
})

test('signup mail goes through the configured SMTP server (authenticated) and nothing lands in the outbox', async () => {
  const b = new Browser(nb.url)
  assert.is((await b.post('/v1/auth/signup', { email: 'smtp-user@example.com', password: PASSWORD, name: 'Smtp' })).status, 201)
  assert.is(received.length, 1)
  const m = received[0]
  assert.is(m.user, 'mailer')
  assert.is(m.from, 'noreply@nestbox.test')
  assert.equal(m.to, ['smtp-user@example.com'])
  assert.match(m.raw, /^Subject: Activate your nestbox account/m)
  const token = /https:\/\/app\.nestbox\.test\/activate\?token=([A-Za-z0-9_-]+)/.exec(mailText(m.raw))?.[1]
  assert.ok(token, 'link uses the configured app URL')
  assert.is(outbox(nb.dataDir).length, 0)
  const a = await b.post('/v1/auth/activate', { token })
  assert.is(a.status, 200)
})

test('an SMTP failure at signup is a 503 and leaves no half-made account', async () => {
  const closed = new Promise<void>((res) => smtp.close(() => res()))
  await closed
  const b = new Browser(nb.url)
  const r = await b.post('/v1/auth/signup', { email: 'nomail@example.com', password: PASSWORD, name: 'No' })
  assert.is(r.status, 503)
  assert.is((await r.json()).error.code, 'mail_failed')
  const row = await nb.services.db.selectFrom('users').select('id').where('email', '=', 'nomail@example.com').executeTakeFirst()
  assert.is(row, undefined)
})

test.run()
