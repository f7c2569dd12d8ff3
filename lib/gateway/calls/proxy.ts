/**
 * One gateway call: route to a deployment (retries, fallbacks), call the
 * upstream in its own format, and answer the client in the client's format.
 * Complete answers are read whole (their usage is needed for the cost);
 * streamed answers flow through event by event with backpressure, and a client
 * that leaves cancels the upstream request. A stream fails over to another
 * deployment only before its first byte reached the client.
 */
import type { Deployment } from '../routing/deployments.ts'
import { GatewayError, UpstreamError, typeForStatus } from '../errors.ts'
import type { ChatFormat, Op } from '../providers/types.ts'
import { Final, type Attempted, type Router } from '../routing/router.ts'
import { createSseRelay } from './sse.ts'
import type { Sink } from './sink.ts'
import { translationFor } from '../translate/index.ts'
import type { Translation } from '../translate/types.ts'
import { callUpstream, readAnswer, type UpstreamCall } from './upstream.ts'
import { noUsage, type Usage } from '../spend/usage.ts'
import { encodeForm, type Form } from './multipart.ts'
import { estimateInputTokens } from '../translate/count-tokens.ts'

export type GatewayRequest = {
  op: Op
  /** The client's chat format (for chat calls) and error envelope. */
  format: ChatFormat
  model: string
  /** Parsed JSON body, or raw bytes. */
  body: Record<string, unknown> | Buffer
  /** A multipart form (audio/transcriptions), encoded per deployment with its model. */
  form?: Form
  contentType: string
  stream: boolean
  callId: string
  /** performance.now() when the request arrived. */
  t0: number
  /** Client headers an upstream of the client's own format gets too (anthropic-beta, anthropic-version). */
  passHeaders?: Record<string, string>
}

/** What the call did, for spend logs and response headers. */
export type Outcome = {
  deployment: Deployment | null
  attempted: Attempted
  usage: Usage
  /** ms spent waiting on upstreams (the rest is the gateway's overhead). */
  upstreamMs: number
  /** Wall-clock ms of the first streamed byte sent. */
  firstByteAt: number | null
  status: 'success' | 'failure'
  error: GatewayError | null
}

/** Headers the caller adds to the answer once the deployment is known (cost, spend, limits). */
export type HeaderHook = (o: Outcome, final: boolean) => Record<string, string>

type Full = { kind: 'full'; status: number; body: Buffer; json: Record<string, unknown> | null; contentType: string; headers: UpstreamCall['headers'] }
type Streamed = { kind: 'stream'; call: UpstreamCall; translation: Translation }

const CHAT_OPS = new Set<Op>(['chat', 'messages'])

/** An upstream error answer as a GatewayError with the upstream's status and, when it gave one, its message. */
function upstreamFailure(status: number, body: Buffer, headers: UpstreamCall['headers']): UpstreamError {
  let message = body.toString('utf8', 0, Math.min(body.length, 2000)).trim()
  let type = typeForStatus(status)
  try {
    const j = JSON.parse(body.toString('utf8')) as { error?: { message?: unknown; type?: unknown } | string; message?: unknown }
    const err = typeof j.error === 'object' ? j.error : undefined
    if (typeof err?.message === 'string') message = err.message
    else if (typeof j.error === 'string') message = j.error
    else if (typeof j.message === 'string') message = j.message
    if (typeof err?.type === 'string' && err.type) type = err.type
  } catch {
    // not JSON: keep the text
  }
  const ra = Number(headers['retry-after'])
  return new UpstreamError(status, type, message || `upstream answered ${status}`, Number.isFinite(ra) ? ra * 1000 : null)
}

/**
 * {usage} of a JSON answer without parsing the whole answer (a long completion
 * would allocate its whole object graph): the last "usage" object is cut out by
 * brace matching (skipping strings). Falls back to a full parse.
 */
export function usageOnly(bytes: Buffer): Record<string, unknown> | null {
  const at = bytes.lastIndexOf('"usage"')
  if (at >= 0) {
    const open = bytes.indexOf('{', at)
    let depth = 0
    for (let i = open; open >= 0 && i < bytes.length; i++) {
      const ch = bytes[i]
      if (ch === 0x7b) depth++
      else if (ch === 0x7d && --depth === 0) {
        try {
          return { usage: JSON.parse(bytes.toString('utf8', open, i + 1)) }
        } catch {
          break
        }
      } else if (ch === 0x22) {
        // skip the string, honouring escapes
        for (i++; i < bytes.length && bytes[i] !== 0x22; i++) if (bytes[i] === 0x5c) i++
      }
    }
  }
  try {
    const j = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
    return { usage: j.usage }
  } catch {
    return null
  }
}

/** compat(litellm): the upstream's rate-limit and request-id headers, passed on as llm_provider-<name>. */
function providerHeaders(h: UpstreamCall['headers']): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k in h) {
    const v = h[k]
    if (v !== undefined && (k.startsWith('x-ratelimit-') || k.startsWith('anthropic-ratelimit-') || k === 'x-request-id' || k === 'request-id' || k === 'retry-after'))
      out[`llm_provider-${k}`] = Array.isArray(v) ? v.join(', ') : v
  }
  return out
}

export function createProxy(d: { router: Router; now: () => number }) {
  /** Builds and sends the upstream request for `dep`; resolves with its whole answer or its open stream. */
  async function attempt(req: GatewayRequest, dep: Deployment, o: Outcome, cancel: AbortSignal): Promise<Full | Streamed> {
    const chat = CHAT_OPS.has(req.op)
    const translation = chat ? translationFor(req.format, dep.provider.chatFormat) : null
    const op = translation?.op ?? req.op
    if (!dep.provider.ops.has(op)) {
      if (op === 'count_tokens' && !Buffer.isBuffer(req.body)) {
        const body = Buffer.from(JSON.stringify({ input_tokens: estimateInputTokens(req.body) }))
        return { kind: 'full', status: 200, body, json: null, contentType: 'application/json', headers: {} }
      }
      throw new GatewayError(400, 'invalid_request_error', `${dep.providerName} deployments of ${req.model} do not support this endpoint`)
    }
    let body: Record<string, unknown> | Buffer = req.body
    let contentType = req.contentType
    if (req.form) {
      const enc = await encodeForm(req.form, dep.model)
      body = enc.body
      contentType = enc.contentType
    } else if (!Buffer.isBuffer(body)) {
      body = { ...body, model: dep.model }
      if (translation) body = translation.request(body, req.stream)
    }
    const upstream = dep.provider.request(dep, op, body, contentType)
    // Claude Code's beta features (prompt caching, thinking...) reach an Anthropic upstream; translated calls cannot use them.
    if (req.passHeaders && translation && !translation.rewrites) Object.assign(upstream.headers, req.passHeaders)
    const t = performance.now()
    const call = await callUpstream(upstream, { timeoutMs: req.stream ? dep.streamTimeoutMs : dep.timeoutMs, cancel })
    const isStream = req.stream && call.status < 400 && /text\/event-stream/i.test(String(call.headers['content-type'] ?? ''))
    if (isStream && translation) {
      call.settle()
      o.upstreamMs += performance.now() - t
      return { kind: 'stream', call, translation }
    }
    let bytes: Buffer
    try {
      bytes = await readAnswer(call)
    } finally {
      o.upstreamMs += performance.now() - t
    }
    if (call.status >= 400) throw upstreamFailure(call.status, bytes, call.headers)
    const answerType = String(call.headers['content-type'] ?? 'application/json')
    let json: Record<string, unknown> | null = null
    if (/json/i.test(answerType)) {
      // An answer passed on unchanged is only read for its usage; one we translate is parsed whole.
      if (!translation?.rewrites) json = usageOnly(bytes)
      else
        try {
          json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
        } catch {
          throw new UpstreamError(502, 'api_error', 'upstream answered with invalid JSON')
        }
    }
    return { kind: 'full', status: call.status, body: bytes, json, contentType: answerType, headers: call.headers }
  }

  /** Streams an open upstream SSE answer to the client, translating events; resolves when either side is done. */
  function pipe(req: GatewayRequest, s: Streamed, sink: Sink, o: Outcome, headers: Record<string, string>): Promise<void> {
    const res = s.call.body
    const clientWantsUsage = !Buffer.isBuffer(req.body) && (req.body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true
    const relay = createSseRelay(s.translation.stream({ usage: (u) => (o.usage = u), clientWantsUsage }, req.model))
    sink.start(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers })
    return new Promise<void>((resolve) => {
      let done = false
      const finish = (error?: GatewayError) => {
        if (done) return
        done = true
        if (error) {
          o.status = 'failure'
          o.error = error
          if (!sink.finished) {
            // compat(litellm): a stream that breaks ends with an error event the SDKs raise.
            const frame = req.format === 'anthropic' ? `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'api_error', message: error.message } })}\n\n` : `data: ${JSON.stringify({ error: { message: error.message, type: error.type, param: null, code: String(error.status) } })}\n\n`
            sink.end(frame)
          }
        } else if (!sink.finished) sink.end(relay.end())
        resolve()
      }
      res.on('data', (chunk: Buffer) => {
        if (o.firstByteAt === null) o.firstByteAt = d.now()
        const out = relay.feed(chunk)
        if (out && !sink.write(out)) res.pause()
      })
      sink.onDrain(() => res.resume())
      res.once('end', () => finish())
      const cut = () => finish(new UpstreamError(502, 'api_connection_error', 'upstream stream was cut before it finished'))
      res.once('error', cut)
      res.once('close', cut) // after 'end' this does nothing
      sink.onClose(() => {
        if (done) return
        // The client left: stop paying for tokens nobody reads.
        s.call.abort()
        o.status = 'failure'
        o.error = new GatewayError(499, 'client_disconnected', 'client closed the connection')
        done = true
        resolve()
      })
    })
  }

  return {
    /**
     * Runs `req` to its end: routing, the upstream call, the answer to `sink`.
     * Errors before anything was sent are thrown (the caller renders them);
     * the returned outcome describes what happened for spend logging.
     */
    async run(req: GatewayRequest, sink: Sink, hook: HeaderHook, x: { admit?: (dep: Deployment) => boolean; onAttempt?: (dep: Deployment) => void } = {}): Promise<Outcome> {
      const o: Outcome = { deployment: null, attempted: { retries: 0, fallbacks: 0 }, usage: noUsage(), upstreamMs: 0, firstByteAt: null, status: 'success', error: null }
      let clientGone = false
      // A client that leaves cancels the upstream call in flight (and any retry): nobody would read the answer.
      const gone = new AbortController()
      sink.onClose(() => {
        if (sink.finished) return
        clientGone = true
        gone.abort()
      })
      const { value, deployment } = await d.router.run(
        req.model,
        async (dep, attempted) => {
          if (clientGone) throw new Final(new GatewayError(499, 'client_disconnected', 'client closed the connection'))
          o.deployment = dep
          o.attempted = attempted
          x.onAttempt?.(dep)
          try {
            return await attempt(req, dep, o, gone.signal)
          } catch (e) {
            // A call cut because the client left is no failure of the deployment: no retry, no cooldown.
            if (clientGone) throw new Final(new GatewayError(499, 'client_disconnected', 'client closed the connection'))
            throw e
          }
        },
        x.admit,
      )
      o.deployment = deployment
      if (clientGone) {
        if (value.kind === 'stream') value.call.abort()
        o.status = 'failure'
        o.error = new GatewayError(499, 'client_disconnected', 'client closed the connection')
        return o
      }
      if (value.kind === 'stream') {
        await pipe(req, value, sink, o, { ...providerHeaders(value.call.headers), ...hook(o, false) })
        return o
      }
      const translation = CHAT_OPS.has(req.op) ? translationFor(req.format, deployment.provider.chatFormat) : null
      const usage = value.json ? (translation ? translation.usage(value.json) : deployment.provider.usage(req.op, value.json)) : null
      if (usage) o.usage = usage
      const translated = value.json && translation ? translation.response(value.json, req.model) : null
      const body = translated ? JSON.stringify(translated) : value.body
      const headers = { 'content-type': translated ? 'application/json' : value.contentType, ...providerHeaders(value.headers), ...hook(o, true) }
      sink.send(value.status, headers, body)
      return o
    },
  }
}
export type Proxy = ReturnType<typeof createProxy>
