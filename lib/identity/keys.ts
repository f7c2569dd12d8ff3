/** API key format: "wrn_" + 32 hex. Only the SHA-256 is stored. */
import { randomBytes } from 'node:crypto'
import { sha256hex } from '../core/secrets.ts'

export const API_KEY_RE = /^wrn_[0-9a-f]{32}$/

export function newApiKey(): { key: string; hash: string; prefix: string } {
  const key = 'wrn_' + randomBytes(16).toString('hex')
  return { key, hash: sha256hex(key), prefix: key.slice(0, 12) + '...' }
}
