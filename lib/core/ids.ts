import { randomBytes, randomUUID } from 'node:crypto'

export type IdGen = {
  /** `prefix` + `hexLen` random hex chars, e.g. id('sb-', 8) → "sb-1a2b3c4d". */
  id: (prefix: string, hexLen?: number) => string
  uuid: () => string
  /** URL-safe random token with `bytes` bytes of entropy. */
  token: (bytes?: number) => string
}

export const idGen: IdGen = {
  id: (prefix, hexLen = 16) => prefix + randomBytes(Math.ceil(hexLen / 2)).toString('hex').slice(0, hexLen),
  uuid: () => randomUUID(),
  token: (bytes = 32) => randomBytes(bytes).toString('base64url'),
}

export type Clock = { now: () => number }
export const systemClock: Clock = { now: () => Date.now() }

export const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString())
