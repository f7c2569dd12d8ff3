/**
 * Channel secrets at rest: AES-256-GCM with a key kept outside the database (a
 * file, created 0600 on first use), the channel id as associated data so a sealed
 * config cannot be moved to another row.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { loadKeyFile } from '../../core/secrets.ts'

export type Sealer = { seal: (plain: string, aad: string) => string; open: (sealed: string, aad: string) => string }

export function createSealer(keyFile: string): Sealer {
  let key: Buffer | undefined
  const k = () => (key ??= loadKeyFile(keyFile))
  return {
    seal(plain, aad) {
      const iv = randomBytes(12)
      const c = createCipheriv('aes-256-gcm', k(), iv).setAAD(Buffer.from(aad))
      const body = Buffer.concat([c.update(plain, 'utf8'), c.final()])
      return ['v1', iv.toString('base64url'), c.getAuthTag().toString('base64url'), body.toString('base64url')].join('.')
    },
    open(sealed, aad) {
      const [v, iv, tag, body] = sealed.split('.')
      if (v !== 'v1') throw new Error('unknown sealed format')
      const d = createDecipheriv('aes-256-gcm', k(), Buffer.from(iv, 'base64url')).setAAD(Buffer.from(aad))
      d.setAuthTag(Buffer.from(tag, 'base64url'))
      return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8')
    },
  }
}
