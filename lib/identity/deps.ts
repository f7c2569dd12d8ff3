/** What the identity services share: wiring, request facts passed in by routes, and input rules. */
import { randomBytes } from 'node:crypto'
import type { Config } from '../core/config/index.ts'
import type { Db } from '../core/db.ts'
import { invalid } from '../core/errors.ts'
import type { EventBus } from '../core/events.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import { sha256hex } from '../core/secrets.ts'
import type { AuditLog } from '../events/audit.ts'
import type { Mailer } from './mailer.ts'

export type IdentityDeps = {
  db: Db
  clock: Clock
  ids: IdGen
  audit: AuditLog
  bus: EventBus
  log: Logger
  config: Config['identity']
  mailer: Mailer
  links: Links
}

/** Base URLs for the links identity hands out, from configuration only (never a request's Host; see core/site-url.ts). */
export type Links = {
  /** This API: OAuth redirect_uri. */
  readonly api: string
  /** The web app: email links and the redirect after an OAuth callback. identity.appUrl, else the API's. */
  readonly app: string
}

/** Facts about the calling client that routes pass to services. */
export type ClientInfo = {
  ip: string
  userAgent: string
}

/** A random single-use secret and the SHA-256 we store instead of it. */
export function newSecret(bytes = 32): { token: string; hash: string } {
  const token = randomBytes(bytes).toString('base64url')
  return { token, hash: sha256hex(token) }
}

const EMAIL_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/

export function parseEmail(v: unknown): string {
  if (typeof v !== 'string' || v.length > 254 || !EMAIL_RE.test(v.trim())) throw invalid('a valid email address is required', 'invalid_email')
  return v.trim()
}

export const MIN_PASSWORD = 8
export function parsePassword(v: unknown, field = 'password'): string {
  if (typeof v !== 'string' || v.length < MIN_PASSWORD) throw invalid(`${field} must be at least ${MIN_PASSWORD} characters`, 'invalid_password')
  if (v.length > 1024) throw invalid(`${field} must be at most 1024 characters`, 'invalid_password')
  return v
}

export function parseName(v: unknown, opts: { allowEmpty?: boolean } = {}): string {
  if (typeof v !== 'string') throw invalid('name must be a string', 'invalid_name')
  const name = v.trim()
  if ((!opts.allowEmpty && name.length < 1) || name.length > 100) throw invalid('name must be 1 to 100 characters', 'invalid_name')
  return name
}

const TEAM_NAME_RE = /^[A-Za-z0-9 _]{1,128}$/
export function parseTeamName(v: unknown): string {
  const name = typeof v === 'string' ? v.trim() : ''
  if (!TEAM_NAME_RE.test(name)) throw invalid('team name must be 1 to 128 characters of A-Z a-z 0-9 space _', 'invalid_team_name')
  return name
}

/** Default team name from a display name, within the team-name alphabet. */
export function defaultTeamName(userName: string): string {
  const base = userName.replace(/[^A-Za-z0-9 _]/g, '').trim().slice(0, 100)
  return base ? `${base} Team` : 'My Team'
}

/** compat(wrenn): team slugs are 12 hex characters shown as "a1b2c3-d1e2f3". */
export function newTeamSlug(): string {
  const h = randomBytes(6).toString('hex')
  return `${h.slice(0, 6)}-${h.slice(6)}`
}
