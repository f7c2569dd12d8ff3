/** Hashing and comparison of secrets. Tokens: SHA-256. Passwords: scrypt, off the event loop. Server keys kept in files. */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

export const sha256hex = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex')

/** Constant-time string equality (length leak only). */
export function safeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a)
  const bb = Buffer.from(b)
  return ba.length === bb.length && timingSafeEqual(ba, bb)
}

const N = 16384, r = 8, p = 1, KEYLEN = 32

function scrypt(password: string, salt: Buffer, n: number, rr: number, pp: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, KEYLEN, { N: n, r: rr, p: pp, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  )
}

/** "scrypt$N$r$p$salt$hash" (base64url). Runs in libuv's thread pool. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await scrypt(password, salt, N, r, p)
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$')
}

export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  const parts = (stored ?? '').split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') {
    // Same cost as a real check so unknown accounts are not faster to reject.
    await scrypt(password, randomBytes(16), N, r, p)
    return false
  }
  const [, n, rr, pp, salt, hash] = parts
  const want = Buffer.from(hash, 'base64url')
  const got = await scrypt(password, Buffer.from(salt, 'base64url'), Number(n), Number(rr), Number(pp))
  return got.length === want.length && timingSafeEqual(got, want)
}

/** A 32-byte server key kept in `file` (64 hex characters), created 0600 on first use; concurrent first uses agree on one key. */
export function loadKeyFile(file: string): Buffer {
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
