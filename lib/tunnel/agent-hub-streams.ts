/**
 * The server's end of one tunnel stream: an HTTP exchange (a browser's request
 * and nestbox's response to it) or an upgraded connection (raw bytes both ways).
 * agent-link.ts routes the agent's frames for the stream's id here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { endToEnd, toFrameHeaders, type Headers, type StreamFrame } from './agent-frames.ts'
import { receiveInto, sendBody, type Inflow, type Outflow, type SendFrame } from './agent-flow.ts'

export interface HubStream {
  onStream(f: StreamFrame, payload: Buffer): void
  onWindow(bytes: number): void
  /** The stream ends without its answer: the agent cancelled, timed out, or the tunnel closed. */
  fail(status: number, message: string): void
}

export function forwardedHeaders(req: IncomingMessage, hopByHop: boolean): Headers {
  const h = toFrameHeaders(req.headers)
  const prior = req.headers['x-forwarded-for']
  const addr = req.socket.remoteAddress ?? ''
  h['x-forwarded-for'] = prior ? `${prior}, ${addr}` : addr
  h['x-forwarded-host'] = req.headers.host ?? ''
  h['x-forwarded-proto'] = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : ((req.headers['x-forwarded-proto'] as string | undefined) ?? 'http')
  return hopByHop ? h : endToEnd(h)
}

export const hasBody = (req: IncomingMessage) => req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')

export function errorPage(res: ServerResponse, status: number, message: string) {
  if (res.headersSent) return void res.destroy()
  const body = `${status} ${STATUS_CODES[status] ?? ''}: ${message}\n`
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(body)
}

/** One browser request answered by the agent. */
export class HttpStream implements HubStream {
  private out: Outflow | null = null
  private inflow: Inflow | null = null
  private timer: NodeJS.Timeout
  private done = false
  private id: string
  private res: ServerResponse
  private send: SendFrame
  private o: { timeoutMs: number; selfGrant: boolean; onEnd: (cancel?: string) => void }

  constructor(id: string, req: IncomingMessage, res: ServerResponse, send: SendFrame, o: HttpStream['o']) {
    this.id = id
    this.res = res
    this.send = send
    this.o = o
    const body = hasBody(req)
    send({ type: 'request', id, method: req.method ?? 'GET', path: req.url ?? '/', headers: forwardedHeaders(req, false), ...(body ? { done: false } : {}) })
    if (body) this.out = sendBody(id, req, send, { selfGrant: o.selfGrant, onError: () => this.finish('client request aborted') })
    // Only the wait for the answer's head is bounded: a streamed answer (SSE) may run as long as it streams.
    this.timer = setTimeout(() => this.fail(504, 'the local agent did not answer within the request timeout', 'timeout'), o.timeoutMs)
    res.once('close', () => {
      if (!this.done) this.finish('client went away')
    })
  }

  onStream(f: StreamFrame, payload: Buffer) {
    if (!this.inflow) {
      clearTimeout(this.timer)
      try {
        this.res.writeHead(f.status ?? 200, endToEnd(f.headers ?? {}))
      } catch {
        return this.fail(502, 'the local agent answered with invalid headers', 'invalid response headers')
      }
      this.res.flushHeaders()
      this.inflow = receiveInto(this.id, this.res, this.send)
    }
    if (payload.length && !this.inflow.write(payload)) return this.fail(502, 'the local agent sent beyond its window', 'window exceeded')
    if (f.done) {
      this.inflow.end()
      this.finish()
    }
  }

  onWindow(bytes: number) {
    this.out?.grant(bytes)
  }

  fail(status: number, message: string, cancel?: string) {
    if (this.done) return
    errorPage(this.res, status, message)
    this.finish(cancel)
  }

  private finish(cancel?: string) {
    if (this.done) return
    this.done = true
    clearTimeout(this.timer)
    this.out?.stop()
    this.o.onEnd(cancel)
  }
}

/** An upgraded connection (a WebSocket) carried as raw bytes: the agent's 101 (or refusal) comes back in the bytes. */
export class UpgradeStream implements HubStream {
  private out: Outflow
  private inflow: Inflow
  private sentEnd = false
  private gotEnd = false
  private answered = false
  private done = false
  private socket: Duplex
  private timer: NodeJS.Timeout
  private o: { timeoutMs: number; selfGrant: boolean; onEnd: (cancel?: string) => void }

  constructor(id: string, req: IncomingMessage, socket: Duplex, head: Buffer, send: SendFrame, o: UpgradeStream['o']) {
    this.socket = socket
    this.o = o
    this.timer = setTimeout(() => this.fail(504, 'the local agent did not answer within the request timeout', 'timeout'), o.timeoutMs)
    send({ type: 'upgrade', id, method: req.method ?? 'GET', path: req.url ?? '/', headers: forwardedHeaders(req, true) })
    if (head.length) socket.unshift(head)
    this.inflow = receiveInto(id, socket, send)
    this.out = sendBody(id, socket, send, { selfGrant: o.selfGrant })
    socket.once('end', () => {
      this.sentEnd = true
      if (this.gotEnd) this.finish()
    })
    socket.once('close', () => this.finish('client went away'))
    socket.on('error', () => {})
  }

  onStream(f: StreamFrame, payload: Buffer) {
    if (payload.length && !this.answered) {
      this.answered = true
      clearTimeout(this.timer)
    }
    if (payload.length && !this.inflow.write(payload)) return this.fail()
    if (f.done) {
      this.gotEnd = true
      this.inflow.end()
      if (this.sentEnd) this.finish()
    }
  }

  onWindow(bytes: number) {
    this.out.grant(bytes)
  }

  fail(status = 502, message = 'the local agent closed the connection', cancel?: string) {
    if (this.done) return
    // nothing of the agent's answer written yet: an HTTP error can still be the answer
    if (!this.answered && !this.socket.destroyed && this.socket.writable) {
      this.socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(message)}\r\n\r\n${message}`)
    } else this.socket.destroy()
    this.finish(cancel)
  }

  private finish(cancel?: string) {
    if (this.done) return
    this.done = true
    clearTimeout(this.timer)
    this.out.stop()
    if (cancel && !this.socket.writableEnded) this.socket.destroy()
    this.o.onEnd(cancel)
  }
}
