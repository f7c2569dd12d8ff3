/**
 * Shared setup for the capsule tests: a nestbox, extra teams/users/keys for the
 * access scenarios, an admin session, and helpers to wait for a capsule.
 */
import { sql } from 'kysely'
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { sha256hex } from '../../lib/core/secrets.ts'
import type { Role } from '../../lib/core/principal.ts'
import { startTestNestbox, type TestNestbox } from '../harness.ts'

export type Caller = { name: string; headers: Record<string, string> }

/** Inserts a user with `role` in `teamId` (a new team when omitted) and returns an API key for them. */
export async function addMember(nb: TestNestbox, role: Role, teamId?: string): Promise<{ key: string; teamId: string; userId: string }> {
  const db = nb.services.db
  const now = Date.now()
  const hex = randomBytes(6).toString('hex')
  const userId = `usr-${hex}`
  if (!teamId) {
    teamId = `team-${hex}`
    await sql`INSERT INTO teams (id, name, slug, is_byoc, created_at) VALUES (${teamId}, ${'team ' + hex}, ${hex}, 0, ${now})`.execute(db)
  }
  await sql`INSERT INTO users (id, email, name, password_hash, is_active, is_admin, created_at, updated_at) VALUES (${userId}, ${hex + '@test.local'}, ${'user ' + hex}, NULL, 1, 0, ${now}, ${now})`.execute(db)
  await sql`INSERT INTO team_members (team_id, user_id, role, created_at) VALUES (${teamId}, ${userId}, ${role}, ${now})`.execute(db)
  const key = 'wrn_' + randomBytes(16).toString('hex')
  await sql`INSERT INTO api_keys (id, team_id, created_by, name, key_prefix, key_hash, created_at) VALUES (${'key-' + hex}, ${teamId}, ${userId}, ${'test'}, ${key.slice(0, 12)}, ${sha256hex(key)}, ${now})`.execute(db)
  return { key, teamId, userId }
}

/** The four callers of every scenario table: nobody, another team, a viewer of the owner's team, the owner. */
export async function scenarioCallers(nb: TestNestbox) {
  const other = await addMember(nb, 'owner')
  const viewer = await addMember(nb, 'viewer', nb.bootstrap.team_id)
  const member = await addMember(nb, 'member', nb.bootstrap.team_id)
  return {
    anonymous: { name: 'no principal', headers: { 'x-api-key': '' } } as Caller,
    otherTeam: { name: 'another team', headers: { 'x-api-key': other.key } } as Caller,
    viewer: { name: 'viewer', headers: { 'x-api-key': viewer.key } } as Caller,
    member: { name: 'member', headers: { 'x-api-key': member.key } } as Caller,
    owner: { name: 'owner', headers: { 'x-api-key': nb.apiKey } } as Caller,
    otherTeamKey: other.key,
  }
}

/** fetch with a caller's credentials (no credentials for the anonymous caller). */
export function call(nb: TestNestbox, who: Caller, path: string, init: RequestInit & { json?: unknown } = {}) {
  const headers = new Headers(init.headers)
  for (const [k, v] of Object.entries(who.headers)) if (v) headers.set(k, v)
  let body = init.body
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json')
    body = JSON.stringify(init.json)
  }
  return fetch(nb.url + path, { ...init, headers, body })
}

/** Logs the bootstrap admin in and returns the session headers (cookie + CSRF) for /v1/admin. */
export async function adminSession(nb: TestNestbox): Promise<Caller> {
  const r = await fetch(nb.url + '/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: nb.bootstrap.admin_email, password: nb.bootstrap.admin_password }) })
  if (r.status !== 200) throw new Error(`admin login failed: ${r.status} ${await r.text()}`)
  const cookies = r.headers.getSetCookie().map((c) => c.split(';')[0])
  const csrf = cookies.find((c) => c.startsWith('wrenn_csrf='))?.slice('wrenn_csrf='.length) ?? ''
  return { name: 'admin session', headers: { cookie: cookies.join('; '), 'x-csrf-token': csrf, 'x-api-key': '' } }
}

export async function createCapsule(nb: TestNestbox, body: Record<string, unknown> = {}, who?: Caller): Promise<string> {
  const r = who ? await call(nb, who, '/v1/capsules', { method: 'POST', json: body }) : await nb.api('/v1/capsules', { method: 'POST', json: body })
  if (r.status !== 202) throw new Error(`create failed: ${r.status} ${await r.text()}`)
  const c = await r.json()
  await waitStatus(nb, c.id, 'running', 15_000, who)
  return c.id
}

export async function waitStatus(nb: TestNestbox, id: string, status: string, timeoutMs = 15_000, who?: Caller) {
  const t0 = Date.now()
  let last = ''
  while (Date.now() - t0 < timeoutMs) {
    const r = who ? await call(nb, who, `/v1/capsules/${id}`) : await nb.api(`/v1/capsules/${id}`)
    last = r.status === 200 ? (await r.json()).status : `HTTP ${r.status}`
    if (last === status) return
    await new Promise((res) => setTimeout(res, 20))
  }
  throw new Error(`capsule ${id} did not reach ${status} (last: ${last})`)
}

export async function exec(nb: TestNestbox, id: string, body: Record<string, unknown>) {
  const r = await nb.api(`/v1/capsules/${id}/exec`, { method: 'POST', json: body })
  return { status: r.status, body: await r.json() }
}

/** Opens a WebSocket with the owner's key (or other headers) and collects its messages. */
export function openSocket(nb: TestNestbox, path: string, headers: Record<string, string> = { 'x-api-key': nb.apiKey }) {
  const ws = new WebSocket(nb.url.replace(/^http/, 'ws') + path, { headers })
  const messages: Array<{ text?: any; binary?: Buffer }> = []
  const waiters: Array<() => void> = []
  ws.on('message', (data, isBinary) => {
    messages.push(isBinary ? { binary: data as Buffer } : { text: JSON.parse(String(data)) })
    for (const w of waiters.splice(0)) w()
  })
  const closed = new Promise<number>((res) => ws.on('close', (code) => res(code)))
  const opened = new Promise<void>((res, rej) => {
    ws.once('open', () => res())
    ws.once('unexpected-response', (_req, resp) => rej(Object.assign(new Error(`upgrade refused: ${resp.statusCode}`), { status: resp.statusCode })))
    ws.once('error', rej)
  })
  /** Waits until some message satisfies `pred`. */
  async function until(pred: (all: typeof messages) => boolean, timeoutMs = 10_000) {
    const t0 = Date.now()
    while (!pred(messages)) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out; got ${JSON.stringify(messages.map((m) => m.text ?? m.binary?.toString()))}`)
      await new Promise<void>((res) => {
        waiters.push(res)
        setTimeout(res, 100)
      })
    }
  }
  const text = () => messages.map((m) => (m.binary ? m.binary.toString() : m.text?.type === 'output' ? Buffer.from(m.text.data, 'base64').toString() : '')).join('')
  return { ws, messages, opened, closed, until, text, send: (m: unknown) => ws.send(typeof m === 'string' || Buffer.isBuffer(m) ? m : JSON.stringify(m)) }
}

export async function start(set: Record<string, string | number | boolean> = {}) {
  return startTestNestbox({ set: { 'capsules.metricsIntervalMs': 100, ...set } })
}

export type Callers = Awaited<ReturnType<typeof scenarioCallers>>

/** The usual suite setup: a nestbox, the scenario callers, and one running capsule of the owner's team. */
export async function startWithCapsule(o: { set?: Record<string, string | number | boolean>; capsule?: Record<string, unknown> } = {}) {
  const nb = await start(o.set)
  const who = await scenarioCallers(nb)
  return { nb, who, id: await createCapsule(nb, o.capsule) }
}
