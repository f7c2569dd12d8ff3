/**
 * One connected local agent, server side: its WebSocket, the streams in flight
 * on it (multiplexed by id), and the routing of the agent's frames. A frame that
 * cannot be read or names no stream is answered with an `error` frame and
 * dropped; the other streams go on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocket, RawData } from 'ws'
import type { Logger } from '../core/logger.ts'
import { decodeFrame, sendFrame, type Frame } from './agent-frames.ts'
import { batchWrites, type SendFrame } from './agent-flow.ts'
import { errorPage, HttpStream, UpgradeStream, type HubStream } from './agent-hub-streams.ts'

/** What an agent says it speaks, in the `X-Tunnel-Features` header of its tunnel request (absent: the seed's frames only). */
export type Features = { window: boolean; upgrade: boolean }
export const parseFeatures = (h: string | undefined): Features => {
  const f = new Set((h ?? '').split(',').map((s) => s.trim().toLowerCase()))
  return { window: f.has('window'), upgrade: f.has('upgrade') }
}

export const MAX_STREAMS = 1024
const MAX_TEXT = 64 * 1024
/** Ids of recently ended streams: their late frames are dropped quietly instead of refused. */
const RECENT = 256

export class AgentLink {
  private streams = new Map<string, HubStream>()
  private recent: string[] = []
  private seq = 0
  lastSeen = Date.now()
  refused = 0
  readonly sandboxId: string
  readonly ws: WebSocket
  readonly features: Features
  private o: { log: Logger; requestTimeoutMs: number; onInfo: (info: Record<string, unknown>) => void }

  /** `socket`: the WebSocket's TCP socket (its writes are batched per tick). */
  constructor(sandboxId: string, ws: WebSocket, socket: Duplex, features: Features, o: AgentLink['o']) {
    this.batch = batchWrites(socket).hold
    this.sandboxId = sandboxId
    this.ws = ws
    this.features = features
    this.o = o
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary))
    ws.on('close', () => this.failAll(502, 'the local agent disconnected'))
    ws.on('error', () => {})
  }

  private batch: () => void

  readonly send: SendFrame = (h, payload, done) => {
    if (this.ws.readyState !== this.ws.OPEN) return
    this.batch()
    sendFrame(this.ws, h, payload, done)
  }

  get inFlight() {
    return this.streams.size
  }

  request(req: IncomingMessage, res: ServerResponse) {
    if (this.streams.size >= MAX_STREAMS) return errorPage(res, 503, 'too many requests in flight to this local agent')
    const id = this.nextId()
    this.streams.set(id, new HttpStream(id, req, res, this.send, { timeoutMs: this.o.requestTimeoutMs, selfGrant: !this.features.window, onEnd: (c) => this.ended(id, c) }))
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const refuse = (status: number, msg: string) => socket.end(`HTTP/1.1 ${status} ${status === 503 ? 'Service Unavailable' : 'Bad Gateway'}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(msg)}\r\n\r\n${msg}`)
    if (!this.features.upgrade) return refuse(502, 'this local agent cannot carry WebSocket connections (update it)')
    if (this.streams.size >= MAX_STREAMS) return refuse(503, 'too many connections in flight to this local agent')
    const id = this.nextId()
    this.streams.set(id, new UpgradeStream(id, req, socket, head, this.send, { timeoutMs: this.o.requestTimeoutMs, selfGrant: !this.features.window, onEnd: (c) => this.ended(id, c) }))
  }

  close(code: number, reason: string) {
    this.ws.close(code, reason)
    this.failAll(502, 'the local agent disconnected')
  }

  private nextId() {
    return `r${++this.seq}`
  }

  private ended(id: string, cancel?: string) {
    if (!this.streams.delete(id)) return
    this.recent.push(id)
    if (this.recent.length > RECENT) this.recent.shift()
    if (cancel) this.send({ type: 'cancel', id, reason: cancel })
  }

  private failAll(status: number, message: string) {
    for (const s of [...this.streams.values()]) s.fail(status, message)
  }

  private refuse(message: string, id?: string) {
    this.refused++
    this.o.log.debug('tunnel frame refused', { sandbox: this.sandboxId, id, message })
    this.send({ type: 'error', ...(id ? { id } : {}), message })
  }

  private onMessage(data: RawData, isBinary: boolean) {
    this.lastSeen = Date.now()
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
    if (!isBinary) return this.onText(buf)
    const d = decodeFrame(buf)
    if (!d.ok) return this.refuse(d.error, d.id)
    this.onFrame(d.frame, d.payload)
  }

  private onFrame(f: Frame, payload: Buffer) {
    switch (f.type) {
      case 'ping':
        return this.send({ type: 'pong' })
      case 'pong':
        return
      case 'error':
        return this.o.log.debug('tunnel agent reported an error', { sandbox: this.sandboxId, id: f.id, message: f.message })
      case 'request':
      case 'upgrade':
        return this.refuse(`${f.type} frames go from the server to the agent`, f.id)
    }
    const s = this.streams.get(f.id)
    if (!s) {
      if (f.type === 'stream' && !this.recent.includes(f.id)) this.refuse(`no stream with id ${f.id}`, f.id)
      return
    }
    if (f.type === 'stream') s.onStream(f, payload)
    else if (f.type === 'window') s.onWindow(f.bytes)
    else if (f.type === 'cancel') s.fail(502, f.reason ? `the local agent gave up: ${f.reason}` : 'the local agent cancelled the request')
  }

  private onText(buf: Buffer) {
    let m: unknown
    try {
      m = buf.length <= MAX_TEXT ? JSON.parse(buf.toString('utf8')) : undefined
    } catch {}
    const msg = m as { type?: unknown; data?: unknown } | undefined
    if (msg?.type !== 'agent_info' || msg.data === null || typeof msg.data !== 'object' || Array.isArray(msg.data)) {
      return this.refuse(buf.length > MAX_TEXT ? `text message over ${MAX_TEXT} bytes` : 'text messages must be {"type":"agent_info","data":{...}}')
    }
    this.o.onInfo(msg.data as Record<string, unknown>)
  }
}
