/**
 * HTTP to upstream providers over node:http(s) with keep-alive agents (cheaper
 * per request than fetch, and its responses are Node streams we can pause for
 * backpressure). One timer per call bounds it: until the answer's headers for a
 * stream (stream_timeout), until the whole body otherwise (timeout).
 */
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import { UpstreamError } from './errors.ts'
import type { UpstreamRequest } from './providers/types.ts'

const agents = {
  'http:': new http.Agent({ keepAlive: true, keepAliveMsecs: 10_000, maxFreeSockets: 256, scheduling: 'lifo' }),
  'https:': new https.Agent({ keepAlive: true, keepAliveMsecs: 10_000, maxFreeSockets: 256, scheduling: 'lifo' }),
}

export type UpstreamCall = {
  res: IncomingMessage
  /** Stops the call's timer (the caller has what it waited for). */
  settle: () => void
  /** Cuts the upstream request (client gone, or we gave up on it). */
  abort: () => void
}

export class UpstreamTimeout extends UpstreamError {
  constructor(ms: number) {
    super(408, 'timeout', `upstream did not answer within ${Math.round(ms / 1000)} s`)
  }
}

/** Sends `r`; resolves once the upstream's status and headers arrived. */
export function callUpstream(r: UpstreamRequest, o: { timeoutMs: number; method?: string }): Promise<UpstreamCall> {
  return new Promise((resolve, reject) => {
    const url = new URL(r.url)
    const mod = url.protocol === 'https:' ? https : http
    const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body
    const req = mod.request(url, { method: o.method ?? 'POST', agent: agents[url.protocol as 'http:' | 'https:'], headers: { ...r.headers, 'content-length': String(body.length) } })
    let settled = false
    const timer = setTimeout(() => req.destroy(new UpstreamTimeout(o.timeoutMs)), o.timeoutMs)
    const settle = () => {
      if (!settled) clearTimeout(timer)
      settled = true
    }
    req.once('error', (e) => {
      settle()
      reject(e instanceof UpstreamError ? e : new UpstreamError(502, 'api_connection_error', `upstream unreachable: ${(e as NodeJS.ErrnoException).code ?? e.message}`, null, e))
    })
    req.once('response', (res) => {
      // An error after the headers (a cut body) surfaces on the response stream.
      res.once('error', () => {})
      resolve({ res, settle, abort: () => req.destroy() })
    })
    req.end(body)
  })
}

/** Reads a whole (non-streaming) upstream body. */
export async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of res) {
    chunks.push(c as Buffer)
    size += (c as Buffer).length
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)
}
