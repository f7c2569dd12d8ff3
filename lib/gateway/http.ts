/**
 * What the gateway's route files share: reading the key and the body from
 * Node's request, answering on Node's response, and rendering errors in the
 * surface's envelope (OpenAI's, or Anthropic's on /v1/messages).
 */
import type { Context } from 'hono'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { Logger } from '../core/logger.ts'
import type { AppEnv } from '../http/types.ts'
import { presentedToken, type Caller } from './keys/callers.ts'
import { anthropicErrorBody, badRequest, GatewayError, openaiErrorBody } from './errors.ts'
import type { GatewayService } from './service.ts'
import { nodeSink, type Sink } from './calls/sink.ts'
import { readAll } from './calls/upstream.ts'

export type Envelope = 'openai' | 'anthropic'

export const headersOf = (c: Context<AppEnv>) => (c.env?.incoming?.headers ?? Object.fromEntries(c.req.raw.headers)) as Record<string, string | string[] | undefined>

/** A request header, read from Node's request when there is one (c.req.header would build a Headers object). */
export const headerOf = (c: Context<AppEnv>, name: string): string | undefined => {
  const v = headersOf(c)[name]
  return Array.isArray(v) ? v[0] : v
}

/** The calling key's caller; synchronous when the key was seen recently. */
export const callerOf = (c: Context<AppEnv>, g: GatewayService): Caller | Promise<Caller> => g.authenticate(presentedToken(headersOf(c)))

/** The request body, at most `max` bytes (413 beyond). */
export async function readBody(c: Context<AppEnv>, max: number): Promise<Buffer> {
  const incoming = c.env?.incoming
  const declared = Number((incoming ? incoming.headers['content-length'] : c.req.header('content-length')) ?? 0)
  if (declared > max) throw new GatewayError(413, 'invalid_request_error', `request body larger than ${Math.round(max / 1048576)} MB`)
  if (!incoming) return Buffer.from(await c.req.arrayBuffer())
  if (incoming.readableEnded) return Buffer.alloc(0)
  return readAll(incoming, max, () => new GatewayError(413, 'invalid_request_error', `request body larger than ${Math.round(max / 1048576)} MB`))
}

/** The body as a JSON object (400 otherwise). */
export async function readJson(c: Context<AppEnv>, max: number): Promise<Record<string, unknown>> {
  const raw = await readBody(c, max)
  let v: unknown
  try {
    v = raw.length ? JSON.parse(raw.toString('utf8')) : {}
  } catch {
    throw badRequest('request body is not valid JSON')
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw badRequest('request body must be a JSON object')
  return v as Record<string, unknown>
}

export { newCallId } from './spend/call-id.ts'

/** A sink on Node's response (every real request has one). */
export function sinkOf(c: Context<AppEnv>): Sink {
  const out = c.env?.outgoing
  if (!out) throw new GatewayError(500, 'api_error', 'the gateway needs a Node HTTP response')
  return nodeSink(out)
}

/** JSON answer written straight to Node's response. */
export function sendJson(c: Context<AppEnv>, status: number, body: unknown, headers: Record<string, string> = {}): Response {
  const out = c.env?.outgoing
  const text = JSON.stringify(body)
  if (!out || out.headersSent) return new Response(text, { status, headers: { 'content-type': 'application/json', ...headers } })
  nodeSink(out).send(status, { 'content-type': 'application/json', ...headers }, text)
  return RESPONSE_ALREADY_SENT
}

/** Renders any error in the envelope; an answer already started is ended instead. */
export function renderError(c: Context<AppEnv>, e: unknown, g: GatewayService, log: Logger, envelope: Envelope): Response {
  const err = g.gatewayError(e, c.get('log') ?? log)
  const out = c.env?.outgoing
  if (out?.headersSent) {
    if (!out.writableEnded) out.end()
    return RESPONSE_ALREADY_SENT
  }
  return sendJson(c, err.status, envelope === 'anthropic' ? anthropicErrorBody(err) : openaiErrorBody(err), err.headers ?? {})
}

type Handler = (c: Context<AppEnv>) => Promise<Response> | Response

/** A handler whose errors are answered in `envelope`. */
export function guarded(g: GatewayService, log: Logger, envelope: Envelope, h: Handler): Handler {
  return (c) => {
    try {
      const r = h(c)
      return r instanceof Promise ? r.catch((e) => renderError(c, e, g, log, envelope)) : r
    } catch (e) {
      return renderError(c, e, g, log, envelope)
    }
  }
}
