/** One delivery attempt over HTTP, classified for the retry policy. Redirects are not followed. */
import { fetch, type Agent } from 'undici'
import type { OutRequest } from './providers.ts'

export type Attempt =
  | { ok: true; status: number }
  | { ok: false; status: number | null; error: string; retry: boolean; retryAfterMs?: number }

/** Retry-After as seconds or an HTTP date, in ms from now. */
export function retryAfterMs(h: string | null, now: number): number | undefined {
  if (!h) return undefined
  if (/^\d+$/.test(h.trim())) return Number(h.trim()) * 1000
  const t = Date.parse(h)
  return Number.isFinite(t) ? Math.max(0, t - now) : undefined
}

export async function attempt(agent: Agent, req: OutRequest, timeoutMs: number): Promise<Attempt> {
  let res
  try {
    res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, dispatcher: agent, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } }
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : e.cause?.code === 'EPRIVATE' ? e.cause.message! : (e.cause?.code ?? e.cause?.message ?? e.message)
    return { ok: false, status: null, error: `request failed: ${why}`, retry: e.cause?.code !== 'EPRIVATE' }
  }
  // the answer's body is not needed; reading a little keeps the connection reusable
  const body = (await res.text().catch(() => '')).slice(0, 200)
  if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status }
  const error = `destination answered ${res.status}${body && res.status < 500 ? `: ${body.replace(/\s+/g, ' ').slice(0, 120)}` : ''}`
  if (res.status === 429) return { ok: false, status: 429, error, retry: true, retryAfterMs: retryAfterMs(res.headers.get('retry-after'), Date.now()) }
  return { ok: false, status: res.status, error, retry: res.status >= 500 || res.status === 408 }
}
