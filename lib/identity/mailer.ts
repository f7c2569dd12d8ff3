/**
 * Outgoing mail. With an SMTP host configured, messages go through nodemailer's
 * SMTP transport; otherwise each message is rendered by nodemailer as RFC 822 and
 * written to <dataDir>/outbox/<time>-<id>.eml, and a log line names the file, so
 * a single-host install works without a mail server.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../core/config/index.ts'
import type { IdGen } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'

export type Mail = { to: string; subject: string; text: string }
export type Mailer = { send: (m: Mail) => Promise<void>; mode: 'smtp' | 'outbox' }

// nodemailer is loaded on the first message, not at start-up: most requests never send mail.
let nodemailerModule: Promise<typeof import('nodemailer')> | undefined
const loadNodemailer = async () => (await (nodemailerModule ??= import('nodemailer'))).default

export function createMailer(d: { config: Config['identity']['mail']; dataDir: string; ids: IdGen; log: Logger }): Mailer {
  const smtp = d.config.smtp
  if (smtp.host) {
    const transport = loadNodemailer().then((nodemailer) => nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      auth: smtp.user ? { user: smtp.user, pass: smtp.password } : undefined,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    }))
    return {
      mode: 'smtp',
      async send(m) {
        const info = await (await transport).sendMail({ from: d.config.from, to: m.to, subject: m.subject, text: m.text })
        d.log.info('mail sent', { to: m.to, subject: m.subject, messageId: info.messageId })
      },
    }
  }
  const outbox = join(d.dataDir, 'outbox')
  let render: ReturnType<Awaited<ReturnType<typeof loadNodemailer>>['createTransport']> | undefined
  return {
    mode: 'outbox',
    async send(m) {
      render ??= (await loadNodemailer()).createTransport({ streamTransport: true, buffer: true, newline: 'unix' })
      const info = await render.sendMail({ from: d.config.from, to: m.to, subject: m.subject, text: m.text })
      mkdirSync(outbox, { recursive: true, mode: 0o700 })
      const file = join(outbox, `${Date.now()}-${d.ids.id('', 8)}.eml`)
      writeFileSync(file, info.message as Buffer, { mode: 0o600 })
      d.log.info('mail written to outbox', { to: m.to, subject: m.subject, file })
    },
  }
}
