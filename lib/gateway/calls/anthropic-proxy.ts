/**
 * /anthropic/* and /proxy/anthropic/*: requests forwarded as they are to the
 * configured Anthropic upstream (the first anthropic/ deployment) with the real
 * key put in and anthropic-version added when missing. Answers are piped back
 * as they arrive (SSE flushed chunk by chunk, with backpressure); usage of
 * /v1/messages answers is read on the way for spend.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Deployment } from '../routing/deployments.ts'
import { ANTHROPIC_VERSION } from '../providers/anthropic.ts'
import { createSseRelay } from './sse.ts'
import type { Sink } from './sink.ts'
import { anthropicPassthrough } from '../translate/passthrough.ts'
import { callUpstream } from './upstream.ts'
import { fromAnthropicUsage, noUsage, type Usage } from '../spend/usage.ts'

const HOP = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length', 'authorization', 'x-api-key', 'api-key', 'x-litellm-api-key', 'accept-encoding'])
const MAX_USAGE_BUFFER = 8 * 1024 * 1024

export type ProxiedRequest = { method: string; path: string; query: string; headers: IncomingHttpHeaders; body: Buffer }
export type ProxyResult = { status: number; usage: Usage; firstByteAt: number | null; error: string | null }

function forwardHeaders(h: IncomingHttpHeaders, dep: Deployment): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP.has(k)) out[k] = Array.isArray(v) ? v.join(', ') : v
  out['anthropic-version'] ??= ANTHROPIC_VERSION
  if (dep.apiKey) out['x-api-key'] = dep.apiKey
  for (const [k, v] of Object.entries(dep.headers)) out[k] = v
  return out
}

/** Forwards `req` to `dep`'s host and pipes the answer to `sink`; resolves when the answer ended (or the client left). */
export async function forwardToAnthropic(dep: Deployment, req: ProxiedRequest, sink: Sink, now: () => number): Promise<ProxyResult> {
  const base = dep.apiBase.replace(/\/+$/, '').replace(/\/v1$/, '')
  const call = await callUpstream({ url: base + req.path + req.query, headers: forwardHeaders(req.headers, dep), body: req.body }, { timeoutMs: dep.streamTimeoutMs, method: req.method })
  call.settle()
  const res = call.body
  const result: ProxyResult = { status: call.status, usage: noUsage(), firstByteAt: null, error: null }
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(call.headers)) if (v !== undefined && !HOP.has(k) && k !== 'content-length') headers[k] = Array.isArray(v) ? v.join(', ') : v
  const sse = /text\/event-stream/i.test(headers['content-type'] ?? '')
  const messages = req.method === 'POST' && /\/v1\/messages$/.test(req.path) && result.status < 400
  const relay = messages && sse ? createSseRelay(anthropicPassthrough.stream({ usage: (u) => (result.usage = u), clientWantsUsage: true }, '')) : null
  const kept: Buffer[] | null = messages && !sse ? [] : null
  let keptBytes = 0
  sink.start(result.status, headers)
  return new Promise((resolve) => {
    let done = false
    const finish = (error: string | null) => {
      if (done) return
      done = true
      result.error = error
      if (kept && !error) {
        try {
          result.usage = fromAnthropicUsage((JSON.parse(Buffer.concat(kept).toString('utf8')) as { usage?: unknown }).usage) ?? result.usage
        } catch {
          // not JSON: no usage
        }
      }
      if (!sink.finished) sink.end()
      resolve(result)
    }
    res.on('data', (chunk: Buffer) => {
      result.firstByteAt ??= now()
      relay?.feed(chunk) // only observes: the client gets the upstream's bytes unchanged
      if (kept && (keptBytes += chunk.length) <= MAX_USAGE_BUFFER) kept.push(chunk)
      if (!sink.write(chunk)) res.pause()
    })
    sink.onDrain(() => res.resume())
    res.once('end', () => finish(null))
    res.once('error', () => finish('upstream closed the connection early'))
    res.once('close', () => finish('upstream closed the connection early')) // after 'end' this does nothing
    sink.onClose(() => {
      if (!done) call.abort()
      finish('client closed the connection')
    })
  })
}
