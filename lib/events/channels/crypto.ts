/**
 * Channel secrets at rest: AES-256-GCM with a key kept outside the database (a
 * file, created 0600 on first use), the channel id as associated data so a sealed
 * config cannot be moved to another row.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

export type Sealer = { seal: (plain: string, aad: string) => string; open: (sealed: string, aad: string) => string }

function loadKey(file: string): Buffer {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true })
    try {
      writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex')
  if (key.length !== 32) throw new Error(`${file} must hold 32 bytes as 64 hex characters`)
  return key
}

export function createSealer(keyFile: string): Sealer {
  let key: Buffer | undefined
  const k = () => (key ??= loadKey(keyFile))
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
