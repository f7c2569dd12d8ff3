/**
 * The local-agent tunnel's frames (seed 001, WIRE.md "agentserver"): a binary
 * WebSocket message is a 4-byte big-endian header length, a JSON header, then
 * raw payload. Encode/decode and validation, and sendFrame, the one way both
 * ends write a frame.
 *
 * Seed frames: `request` (server→agent) + body, `stream` (agent→server) with
 * status/headers on its first frame and `done:true` on its last, `ping`/`pong`.
 * Extensions (an agent that never sends them still works, see agent-hub.ts):
 * - a `request` with `done:false` continues its body in `stream` frames
 *   server→agent (the seed form, `done` absent, carries the whole body);
 * - `window {id, bytes}`: the receiver of a stream's payload grants `bytes` more
 *   (credit flow control; each side starts with INITIAL_WINDOW per stream);
 * - `upgrade {id, method, path, headers}` (server→agent): an HTTP upgrade (a
 *   WebSocket); the agent opens it locally and both sides then carry the raw
 *   bytes of that connection, the agent's response head included, in `stream`
 *   frames, under the same window rule;
 * - `cancel {id, reason?}` (either way): the stream is over, drop it;
 * - `error {id?, message}` (either way): a frame was refused; nothing else changes.
 */
import type { WebSocket } from 'ws'

export const MAX_CHUNK = 16 * 1024
export const MAX_HEADER = 64 * 1024
export const INITIAL_WINDOW = 512 * 1024
/** The largest WebSocket message a valid frame takes (an agent_info text message is smaller still). */
export const MAX_MESSAGE = 4 + MAX_HEADER + MAX_CHUNK

/** WebSocket close codes the agent acts on: replaced by a newer connection → it stops; sandbox removed → its credentials are gone. */
export const CLOSE_REPLACED = 4001
export const CLOSE_REMOVED = 4004

export type Headers = Record<string, string | string[]>
export type RequestFrame = { type: 'request'; id: string; method: string; path: string; headers: Headers; done?: boolean }
export type UpgradeFrame = { type: 'upgrade'; id: string; method: string; path: string; headers: Headers }
export type StreamFrame = { type: 'stream'; id: string; status?: number; headers?: Headers; done: boolean }
export type WindowFrame = { type: 'window'; id: string; bytes: number }
export type CancelFrame = { type: 'cancel'; id: string; reason?: string }
export type ErrorFrame = { type: 'error'; id?: string; message: string }
export type PingFrame = { type: 'ping' | 'pong' }
export type Frame = RequestFrame | UpgradeFrame | StreamFrame | WindowFrame | CancelFrame | ErrorFrame | PingFrame

export type Decoded = { ok: true; frame: Frame; payload: Buffer } | { ok: false; id?: string; error: string }

// Payload frames are encoded into buffers reused once the socket wrote them: a tunnel carrying 256 MiB otherwise
// allocates 256 MiB of short-lived buffers, and V8 answers that external memory with a full GC every few MiB.
const POOLED = 4 + 1024 + MAX_CHUNK
const pool: Buffer[] = []
const POOL_MAX = 256

/** Writes the frame: header length, header JSON, payload. */
function fill(out: Buffer, json: string, hl: number, payload?: Buffer): Buffer {
  out.writeUInt32BE(hl, 0)
  out.write(json, 4)
  if (payload?.length) payload.copy(out, 4 + hl)
  return out
}

export function encodeFrame(header: Frame, payload?: Buffer): Buffer {
  const json = JSON.stringify(header)
  const hl = Buffer.byteLength(json)
  return fill(Buffer.allocUnsafe(4 + hl + (payload?.length ?? 0)), json, hl, payload)
}

/**
 * Sends one frame on a tunnel WebSocket, a payload frame through a reused buffer
 * (back in the pool once ws wrote it); `done` runs once it is written.
 */
export function sendFrame(ws: Pick<WebSocket, 'send'>, header: Frame, payload?: Buffer, done?: () => void): void {
  const json = JSON.stringify(header)
  const hl = Buffer.byteLength(json)
  const n = 4 + hl + (payload?.length ?? 0)
  if (!payload?.length || n > POOLED) return ws.send(fill(Buffer.allocUnsafe(n), json, hl, payload), { binary: true }, done && ((err) => !err && done()))
  const backing = pool.pop() ?? Buffer.allocUnsafeSlow(POOLED)
  ws.send(fill(backing, json, hl, payload).subarray(0, n), { binary: true }, (err) => {
    if (pool.length < POOL_MAX) pool.push(backing)
    if (!err) done?.()
  })
}

const isStr = (v: unknown): v is string => typeof v === 'string'
const ID = /^[A-Za-z0-9_.:-]{1,64}$/

function isHeaders(v: unknown): v is Headers {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  return Object.values(v).every((x) => isStr(x) || (Array.isArray(x) && x.every(isStr)))
}

/** Why a parsed header is not a valid frame, or null. */
function invalidReason(h: Record<string, unknown>, payloadLength: number): string | null {
  const needsId = h.type !== 'ping' && h.type !== 'pong' && h.type !== 'error'
  if (needsId && !(isStr(h.id) && ID.test(h.id))) return 'frame id must be 1-64 characters [A-Za-z0-9_.:-]'
  switch (h.type) {
    case 'ping':
    case 'pong':
      return null
    case 'request':
    case 'upgrade':
      if (!isStr(h.method) || !/^[A-Z]{1,16}$/.test(h.method)) return `${h.type}.method must be an HTTP method`
      if (!isStr(h.path) || !h.path.startsWith('/') || /[\s\0]/.test(h.path)) return `${h.type}.path must start with / and hold no spaces`
      if (!isHeaders(h.headers)) return `${h.type}.headers must map names to strings`
      if (h.done !== undefined && typeof h.done !== 'boolean') return 'request.done must be a boolean'
      return h.type === 'upgrade' && payloadLength ? 'upgrade frames carry no payload' : null
    case 'stream':
      if (typeof h.done !== 'boolean') return 'stream.done must be a boolean'
      if (h.status !== undefined && !(Number.isInteger(h.status) && (h.status as number) >= 100 && (h.status as number) <= 599)) return 'stream.status must be 100-599'
      if (h.headers !== undefined && !isHeaders(h.headers)) return 'stream.headers must map names to strings'
      return null
    case 'window':
      return Number.isInteger(h.bytes) && (h.bytes as number) > 0 && (h.bytes as number) <= 1 << 30 ? null : 'window.bytes must be a positive integer'
    case 'cancel':
      return h.reason === undefined || isStr(h.reason) ? null : 'cancel.reason must be a string'
    case 'error':
      return isStr(h.message) ? null : 'error.message must be a string'
    default:
      return `unknown frame type ${JSON.stringify(String(h.type)).slice(0, 40)}`
  }
}

/** Parses one binary message; a refusal names the frame's id when it could be read. */
export function decodeFrame(msg: Buffer): Decoded {
  if (msg.length < 4) return { ok: false, error: 'frame shorter than its 4-byte header length' }
  const n = msg.readUInt32BE(0)
  if (n === 0 || n > MAX_HEADER) return { ok: false, error: `header length ${n} outside 1..${MAX_HEADER}` }
  if (4 + n > msg.length) return { ok: false, error: `header length ${n} beyond the ${msg.length - 4} bytes sent` }
  let h: unknown
  try {
    h = JSON.parse(msg.toString('utf8', 4, 4 + n))
  } catch {
    return { ok: false, error: 'header is not valid JSON' }
  }
  if (h === null || typeof h !== 'object' || Array.isArray(h)) return { ok: false, error: 'header must be a JSON object' }
  const rec = h as Record<string, unknown>
  const id = isStr(rec.id) && ID.test(rec.id) ? rec.id : undefined
  const payload = msg.subarray(4 + n)
  if (payload.length > MAX_CHUNK) return { ok: false, id, error: `payload of ${payload.length} bytes exceeds ${MAX_CHUNK}` }
  const why = invalidReason(rec, payload.length)
  if (why) return { ok: false, id, error: why }
  if ((rec.type === 'ping' || rec.type === 'pong' || rec.type === 'window' || rec.type === 'cancel' || rec.type === 'error') && payload.length) return { ok: false, id, error: `${rec.type} frames carry no payload` }
  return { ok: true, frame: rec as Frame, payload }
}

/** Splits a buffer into ≤ MAX_CHUNK views (no copies). */
export function* chunks(buf: Buffer): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += MAX_CHUNK) yield buf.subarray(i, i + MAX_CHUNK)
}

/** Hop-by-hop headers, never carried across the tunnel (RFC 9110 §7.6.1). */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate'])

export function endToEnd(h: Headers): Headers {
  const out: Headers = {}
  for (const [k, v] of Object.entries(h)) if (!HOP.has(k.toLowerCase())) out[k] = v
  return out
}

/** Node's header object as frame headers (undefined dropped; numbers as strings). */
export function toFrameHeaders(h: Record<string, string | string[] | number | undefined>): Headers {
  const out: Headers = {}
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = typeof v === 'number' ? String(v) : v
  return out
}
