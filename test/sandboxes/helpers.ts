/** Shared by the sandbox tests: requests to a sandbox's host, entry through /auth, waiting for a status. */
import { request, type IncomingHttpHeaders } from 'node:http'
import type { TestNestbox } from '../harness.ts'
import { Browser, PASSWORD } from '../identity/helpers.ts'

export const BASE = 'sbx.nestbox.test'

export type HostAnswer = { status: number; headers: IncomingHttpHeaders; text: string }

/** One request to nestbox with `host` as the Host header (a sandbox's subdomain). */
export function hostRequest(nb: TestNestbox, host: string, path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HostAnswer> {
  const u = new URL(nb.url)
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host, ...o.headers }
    if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body))
    const req = request({ host: u.hostname, port: u.port, path, method: o.method ?? 'GET', headers }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d) => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(parts).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(o.body)
  })
}

/** The host and path+query of a sandbox URL from the API. */
export function splitUrl(url: string): { host: string; path: string } {
  const u = new URL(url)
  return { host: u.host, path: u.pathname + u.search }
}

/** Follows a sandbox's entry link (opencode_url / openclaw_url) and returns the cookie header it set. */
export async function enter(nb: TestNestbox, url: string): Promise<{ answer: HostAnswer; cookie: string | null }> {
  const { host, path } = splitUrl(url)
  const answer = await hostRequest(nb, host, path)
  const set = answer.headers['set-cookie']?.[0] ?? null
  return { answer, cookie: set ? set.split(';')[0] : null }
}

/** A workspace-surface session (cookie) for an account. */
export async function login(nb: TestNestbox, email: string, password = PASSWORD): Promise<Browser> {
  const b = new Browser(nb.url)
  const r = await b.post('/api/auth/login', { username: email, password })
  if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${await r.text()}`)
  return b
}

/** Polls the sandbox until its status is `want` (fails on error or timeout with the last answer). */
export async function waitStatus(get: () => Promise<Response>, want: string, timeoutMs = 120_000): Promise<Record<string, unknown>> {
  const end = Date.now() + timeoutMs
  let last: Record<string, unknown> = {}
  while (Date.now() < end) {
    last = (await (await get()).json()) as Record<string, unknown>
    if (last.status === want) return last
    if (last.status === 'error' && want !== 'error') throw new Error(`sandbox failed: ${last.error}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`sandbox still ${last.status} after ${timeoutMs} ms (wanted ${want})`)
}
