/**
 * HTTP to upstream providers with undici (Node's own HTTP client, used
 * directly: about half the CPU per request of node:http's client, keep-alive
 * pools per origin, and answers as Node streams we can pause for
 * backpressure). One timer per call bounds it: until the answer's headers for a
 * stream (stream_timeout), until the whole body otherwise (timeout).
 */
import type { Readable } from 'node:stream'
import { Agent, errors, type Dispatcher } from 'undici'
import { UpstreamError } from '../errors.ts'
import type { UpstreamRequest } from '../providers/types.ts'

// No undici timeouts of its own: the call's timer below is the one limit (a stream may be quiet for long).
const agent = new Agent({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, headersTimeout: 0, bodyTimeout: 0, connections: null, pipelining: 1 })

export type UpstreamCall = {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** The answer's body; 'end' only when it arrived whole, 'error' when it was cut. */
  body: Readable
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

type Target = { origin: string; path: string }
const targets = new Map<string, Target>()

/** Parsed once per URL: upstream URLs repeat (one per deployment and operation). */
function targetOf(url: string): Target {
  let t = targets.get(url)
  if (!t) {
    const u = new URL(url)
    t = { origin: u.origin, path: u.pathname + u.search }
    if (targets.size > 1000) targets.clear()
    targets.set(url, t)
  }
  return t
}

function failure(e: unknown, timedOut: UpstreamTimeout | null): UpstreamError {
  if (timedOut) return timedOut
  if (e instanceof UpstreamError) return e
  const code = (e as { code?: string }).code ?? (e as Error).message
  return new UpstreamError(502, 'api_connection_error', `upstream unreachable: ${code}`, null, e)
}

/** Sends `r`; resolves once the upstream's status and headers arrived. */
export async function callUpstream(r: UpstreamRequest, o: { timeoutMs: number; method?: string; cancel?: AbortSignal }): Promise<UpstreamCall> {
  const t = targetOf(r.url)
  const ac = new AbortController()
  // The caller's signal (the client went away) cuts the call until it settles; a stream is cut by its reader after that.
  if (o.cancel?.aborted) throw new UpstreamError(499, 'client_disconnected', 'client closed the connection')
  const cancel = () => ac.abort(new errors.RequestAbortedError())
  // Removed by hand in settle(): the {signal} option would tie each call to a WeakRef and a FinalizationRegistry entry that outlive it.
  o.cancel?.addEventListener('abort', cancel, { once: true })
  let timedOut: UpstreamTimeout | null = null
  const timer = setTimeout(() => {
    timedOut = new UpstreamTimeout(o.timeoutMs)
    ac.abort(timedOut)
  }, o.timeoutMs)
  const settle = () => {
    clearTimeout(timer)
    o.cancel?.removeEventListener('abort', cancel)
  }
  try {
    const method = (o.method ?? 'POST') as Dispatcher.HttpMethod
    const res = await agent.request({ origin: t.origin, path: t.path, method, headers: r.headers, body: method === 'GET' || method === 'HEAD' ? null : r.body, signal: ac.signal })
    // A body cut by our timer reports the timeout, not a generic abort.
    const body = res.body as unknown as Readable
    body.on('error', () => {})
    if (timedOut) settle()
    return { status: res.statusCode, headers: res.headers, body, settle, abort: () => ac.abort(new errors.RequestAbortedError()) }
  } catch (e) {
    settle()
    throw failure(e, timedOut)
  }
}

/** Reads a whole stream (an upstream answer, a request body), failing past `max` bytes. */
export function readAll(s: NodeJS.ReadableStream, max = Infinity, tooBig?: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const fail = (e: () => Error) => {
      if (settled) return
      settled = true
      s.removeListener('data', onData)
      s.pause()
      reject(e())
    }
    const onData = (c: Buffer) => {
      size += c.length
      if (size > max) return fail(() => tooBig?.() ?? new Error('too large'))
      chunks.push(c)
    }
    s.on('data', onData)
    s.once('end', () => {
      if (settled) return
      settled = true
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size))
    })
    s.once('error', (e) => fail(() => e))
    s.once('close', () => fail(() => new UpstreamError(502, 'api_connection_error', 'connection closed before the body was complete')))
  })
}

/** Reads a whole upstream answer, reporting a timeout or a cut as UpstreamError. */
export async function readAnswer(call: UpstreamCall): Promise<Buffer> {
  try {
    return await readAll(call.body)
  } catch (e) {
    if (e instanceof UpstreamError) throw e
    const reason = (e as { cause?: unknown }).cause ?? e
    if (reason instanceof UpstreamError) throw reason
    throw new UpstreamError(502, 'api_connection_error', 'upstream closed the connection before its answer was complete', null, e)
  } finally {
    call.settle()
  }
}
