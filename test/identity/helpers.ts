/**
 * Test helpers for identity: a cookie-keeping HTTP client that echoes the
 * wrenn_csrf cookie like the web app does, the outbox reader, and account setup
 * through the real signup → email → activate flow.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TestNestbox } from '../harness.ts'

export type Req = { method?: string; json?: unknown; headers?: Record<string, string>; csrf?: boolean; redirect?: RequestRedirect }

export class Browser {
  readonly jar = new Map<string, string>()
  readonly base: string
  constructor(base: string) {
    this.base = base
  }

  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  /** Applies Set-Cookie headers (deletions included) to the jar. */
  absorb(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim())
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      const maxAge = attrs.find((a) => /^max-age=/i.test(a))
      const expires = attrs.find((a) => /^expires=/i.test(a))
      const gone = value === '' || (maxAge && Number(maxAge.split('=')[1]) <= 0) || (expires && Date.parse(expires.slice(8)) < Date.now())
      if (gone) this.jar.delete(name)
      else this.jar.set(name, value)
    }
  }

  async fetch(path: string, r: Req = {}): Promise<Response> {
    const headers = new Headers(r.headers)
    if (this.jar.size && !headers.has('cookie')) headers.set('cookie', this.cookieHeader())
    const method = r.method ?? (r.json !== undefined ? 'POST' : 'GET')
    if (r.csrf !== false && method !== 'GET' && this.jar.has('wrenn_csrf') && !headers.has('x-csrf-token')) headers.set('x-csrf-token', this.jar.get('wrenn_csrf')!)
    let body: string | undefined
    if (r.json !== undefined) {
      headers.set('content-type', 'application/json')
      body = JSON.stringify(r.json)
    }
    const url = path.startsWith('http') ? path : this.base + path
    const res = await fetch(url, { method, headers, body, redirect: r.redirect ?? 'manual' })
    if (url.startsWith(this.base)) this.absorb(res)
    return res
  }

  get = (path: string, r: Req = {}) => this.fetch(path, { ...r, method: 'GET' })
  post = (path: string, json?: unknown, r: Req = {}) => this.fetch(path, { ...r, method: 'POST', json: json ?? {} })
  patch = (path: string, json?: unknown, r: Req = {}) => this.fetch(path, { ...r, method: 'PATCH', json: json ?? {} })
  put = (path: string, json?: unknown, r: Req = {}) => this.fetch(path, { ...r, method: 'PUT', json: json ?? {} })
  del = (path: string, json?: unknown, r: Req = {}) => this.fetch(path, { ...r, method: 'DELETE', ...(json === undefined ? {} : { json }) })
}

/** Every .eml in <data>/outbox, oldest first. */
export function outbox(dataDir: string): string[] {
  let files: string[] = []
  try {
    files = readdirSync(join(dataDir, 'outbox')).filter((f) => f.endsWith('.eml')).sort()
  } catch {
    return []
  }
  return files.map((f) => readFileSync(join(dataDir, 'outbox', f), 'utf8'))
}

/** The text of a message, quoted-printable decoded only when it says it is (a 7bit token may itself contain "3D"). */
export function mailText(m: string): string {
  if (!/^Content-Transfer-Encoding: quoted-printable/im.test(m)) return m
  return m.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
}

/** Every message in the outbox addressed to exactly `to` (not to an address ending in it), decoded, oldest first. */
export function mailsTo(dataDir: string, to: string): string[] {
  const addressed = new RegExp(`^To: (?:.*[\\s<,])?${to.replace(/[.+]/g, '\\$&')}(?:[>,\\s]|$)`, 'mi')
  return outbox(dataDir).filter((m) => addressed.test(m)).map(mailText)
}

/** The token in the newest message to `to` whose link path is `kind` (activate | reset-password). */
export function tokenFromMail(dataDir: string, to: string, kind: 'activate' | 'reset-password'): string {
  for (const m of mailsTo(dataDir, to).reverse()) {
    const hit = new RegExp(`/${kind}\\?token=([A-Za-z0-9_-]+)`).exec(m)
    if (hit) return hit[1]
  }
  throw new Error(`no ${kind} mail to ${to}`)
}

export const PASSWORD = 'correct horse battery'

/** Signs up, activates through the emailed token and returns the logged-in browser and the session body. */
export async function newUser(nb: TestNestbox, email: string, name = 'Test User', password = PASSWORD) {
  const b = new Browser(nb.url)
  const s = await b.post('/v1/auth/signup', { email, password, name })
  if (s.status !== 201) throw new Error(`signup ${email}: ${s.status} ${await s.text()}`)
  const a = await b.post('/v1/auth/activate', { token: tokenFromMail(nb.dataDir, email, 'activate') })
  if (a.status !== 200) throw new Error(`activate ${email}: ${a.status} ${await a.text()}`)
  const session = (await a.json()) as { user_id: string; team_id: string; email: string; role: string }
  return { b, ...session }
}

/** A logged-in browser for the bootstrap admin. */
export async function adminBrowser(nb: TestNestbox) {
  const b = new Browser(nb.url)
  const r = await b.post('/v1/auth/login', { email: nb.bootstrap.admin_email, password: nb.bootstrap.admin_password })
  if (r.status !== 200) throw new Error(`admin login: ${r.status} ${await r.text()}`)
  return b
}
