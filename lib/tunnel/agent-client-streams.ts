/**
 * The agent's end of one tunnel stream: a request it makes to the local service
 * (opencode on 127.0.0.1) for the server, or an upgraded connection it opens
 * there and carries as raw bytes.
 */
import { request as httpRequest, type ClientRequest } from 'node:http'
import { connect, type Socket } from 'node:net'
import { endToEnd, toFrameHeaders, type Headers, type RequestFrame, type StreamFrame, type UpgradeFrame } from './agent-frames.ts'
import { receiveInto, sendBody, type Inflow, type Outflow, type SendFrame } from './agent-flow.ts'

export interface AgentStream {
  onStream(f: StreamFrame, payload: Buffer): void
  onWindow(bytes: number): void
  /** The server cancelled, or the tunnel closed. */
  cancel(): void
}

/** `authorization`: the credential of a local service the agent started itself (its caller's is replaced). */
type Opts = { port: number; authorization?: string; send: SendFrame; onEnd: () => void }

const localHeaders = (h: Headers, o: Opts): Headers => ({ ...h, host: `127.0.0.1:${o.port}`, ...(o.authorization ? { authorization: o.authorization } : {}) })

/** One HTTP request to the local service, its answer streamed back. */
export class LocalRequest implements AgentStream {
  private req: ClientRequest
  private inflow: Inflow | null = null
  private out: Outflow | null = null
  private answered = false
  private done = false
  private id: string
  private o: Opts

  constructor(id: string, f: RequestFrame, body: Buffer, o: Opts) {
    this.id = id
    this.o = o
    this.req = httpRequest({ host: '127.0.0.1', port: o.port, method: f.method, path: f.path, headers: localHeaders(endToEnd(f.headers), o) })
    this.req.on('response', (res) => {
      this.answered = true
      const headers = endToEnd(toFrameHeaders(res.headers))
      o.send({ type: 'stream', id, status: res.statusCode ?? 502, headers, done: false })
      this.out = sendBody(id, res, (h, p, cb) => {
        o.send(h, p, cb)
        if (h.type === 'stream' && h.done) this.finish()
      }, { onError: () => this.abort('local response aborted') })
    })
    this.req.on('error', (err) => this.abort(`local service: ${(err as NodeJS.ErrnoException).code ?? err.message}`))
    if (f.done === false) {
      this.inflow = receiveInto(id, this.req, o.send)
      if (body.length) this.inflow.write(body)
    } else this.req.end(body)
  }

  onStream(f: StreamFrame, payload: Buffer) {
    if (!this.inflow) return this.o.send({ type: 'error', id: this.id, message: 'this request had its whole body in its request frame' })
    if (payload.length && !this.inflow.write(payload)) return this.abort('server sent beyond its window')
    if (f.done) this.inflow.end()
  }

  onWindow(bytes: number) {
    this.out?.grant(bytes)
  }

  cancel() {
    this.finish()
    this.req.destroy()
  }

  /** The local side failed: an answer of our own if none started, else a cancel. */
  private abort(reason: string) {
    if (this.done) return
    if (!this.answered) {
      const body = Buffer.from(`502 Bad Gateway: ${reason}\n`)
      this.o.send({ type: 'stream', id: this.id, status: 502, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length) }, done: false }, body)
      this.o.send({ type: 'stream', id: this.id, done: true })
    } else this.o.send({ type: 'cancel', id: this.id, reason })
    this.cancel()
  }

  private finish() {
    if (this.done) return
    this.done = true
    this.out?.stop()
    this.o.onEnd()
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** Renders an upgrade request's head for the local socket (names and values checked: nothing can smuggle a line). */
function requestHead(f: UpgradeFrame, o: Opts): string {
  const lines = [`${f.method} ${f.path} HTTP/1.1`]
  for (const [k, v] of Object.entries(localHeaders(f.headers, o))) {
    if (!TOKEN.test(k)) continue
    for (const x of Array.isArray(v) ? v : [v]) if (!/[\r\n\0]/.test(x)) lines.push(`${k}: ${x}`)
  }
  return lines.join('\r\n') + '\r\n\r\n'
}

/** An upgraded connection to the local service: its raw bytes both ways. */
export class LocalUpgrade implements AgentStream {
  private sock: Socket
  private inflow: Inflow
  private out: Outflow
  private answered = false
  private done = false
  private ends = 0
  private localEnded = false
  private id: string
  private o: Opts

  constructor(id: string, f: UpgradeFrame, o: Opts) {
    this.id = id
    this.o = o
    this.sock = connect(o.port, '127.0.0.1')
    this.sock.write(requestHead(f, o))
    this.inflow = receiveInto(id, this.sock, o.send)
    this.out = sendBody(id, this.sock, (h, p, cb) => {
      if (p?.length) this.answered = true
      o.send(h, p, cb)
      if (h.type === 'stream' && h.done) {
        this.localEnded = true
        this.ended()
      }
    })
    this.sock.on('error', (err) => this.abort(`local service: ${(err as NodeJS.ErrnoException).code ?? err.message}`))
    // a close after the local side ended is the normal end (the server ends its side on our done); before it, a failure
    this.sock.on('close', () => (this.localEnded ? this.finish() : this.abort('local connection closed')))
  }

  onStream(f: StreamFrame, payload: Buffer) {
    if (payload.length && !this.inflow.write(payload)) return this.abort('server sent beyond its window')
    if (f.done) {
      this.inflow.end()
      this.ended()
    }
  }

  onWindow(bytes: number) {
    this.out.grant(bytes)
  }

  cancel() {
    this.finish()
    this.sock.destroy()
  }

  /** Both directions ended: the stream is over. */
  private ended() {
    if (++this.ends === 2) this.finish()
  }

  private abort(reason: string) {
    if (this.done) return
    if (!this.answered) {
      const msg = `${reason}\n`
      this.o.send({ type: 'stream', id: this.id, done: false }, Buffer.from(`HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(msg)}\r\n\r\n${msg}`))
      this.o.send({ type: 'stream', id: this.id, done: true })
    } else this.o.send({ type: 'cancel', id: this.id, reason })
    this.cancel()
  }

  private finish() {
    if (this.done) return
    this.done = true
    this.out.stop()
    this.o.onEnd()
  }
}
