/**
 * How tests reach a local agent's sandbox: the way a browser does. The sandbox's
 * `opencode_url` (`/auth?token=` on its subdomain; nestbox needs a baseDomain)
 * sets the cookie, and every request goes to nestbox with the subdomain as Host
 * (undici's request: fetch will not send a Host of ours).
 */
import { Readable } from 'node:stream'
import { request } from 'undici'
import type { TestNestbox } from '../harness.ts'
import { Browser } from '../identity/helpers.ts'

export type Front = {
  fetch(path: string, init?: RequestInit): Promise<Response>
  wsUrl(path: string): string
  /** Headers a WebSocket client must send (Host and cookie on the subdomain). */
  headers: Record<string, string>
  close(): Promise<void>
}

export async function sandboxFront(nb: TestNestbox, sandboxId: string): Promise<Front> {
  const admin = new Browser(nb.url)
  const login = await admin.post('/api/auth/login', { username: nb.bootstrap.admin_email, password: nb.bootstrap.admin_password })
  if (login.status !== 200) throw new Error(`admin login: ${login.status}`)
  const entry = new URL((await (await admin.get(`/api/sandboxes/${sandboxId}`)).json()).opencode_url)
  const auth = await request(nb.url + entry.pathname + entry.search, { headers: { host: entry.host } })
  await auth.body.dump()
  const set = [auth.headers['set-cookie'] ?? []].flat()
  if (auth.statusCode !== 302 || !set.length) throw new Error(`sandbox entry: ${auth.statusCode}`)
  const headers = { host: entry.host, cookie: set[0].split(';')[0] }
  return {
    async fetch(path, init = {}) {
      const body = init.body instanceof ReadableStream ? Readable.fromWeb(init.body as never) : (init.body as string | Buffer | undefined)
      const r = await request(nb.url + path, { method: (init.method ?? 'GET') as 'GET', headers: { ...(init.headers as Record<string, string>), ...headers }, body, signal: init.signal ?? undefined })
      const h = new Headers()
      for (const [k, v] of Object.entries(r.headers)) for (const x of [v ?? []].flat()) h.append(k, x)
      const nobody = r.statusCode === 204 || r.statusCode === 304 || init.method === 'HEAD'
      return new Response(nobody ? null : (Readable.toWeb(r.body) as ReadableStream), { status: r.statusCode, headers: h })
    },
    wsUrl: (path) => nb.url.replace('http', 'ws') + path,
    headers,
    close: async () => {},
  }
}
