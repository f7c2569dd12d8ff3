/**
 * Host-routed port connections (`{port}-{capsule}.{baseDomain}`) as an L4
 * pass-through: nestbox reads a new connection's first request head before its
 * HTTP server does; when that head names a port host, the HTTP server gets the
 * head alone (a HeadFirst stream), the route authorizes it exactly as any other
 * request (routes.ports.ts), and then either takes the raw connection over for
 * good (take: nestbox does no HTTP work for the rest of it) or lets the rest of
 * the connection through to the HTTP server as usual (release).
 *
 * Every other connection goes to the HTTP server untouched, its first bytes put
 * back. Correctness never rests on the quick look at the head here: the route
 * decides on what Node's HTTP parser made of it.
 */
import type { Socket } from 'node:net'
import { Duplex } from 'node:stream'
import { portHost } from './ports.ts'


/** The first bytes of a connection waited for before it goes to the HTTP server anyway. */
const FIRST_BYTES_MS = 10_000
const END_OF_HEAD = Buffer.from('\r\n\r\n')
const HOST_LINE = /\r\nhost:[ \t]*([^\r\n]*?)[ \t]*\r\n/i

/** The stream the HTTP server got for a port-host connection, while its first request is decided. */
const pending = new WeakMap<Duplex, HeadFirst>()

/** Lets a route take over or release the connection whose first request it serves (undefined: not a port-host connection). */
export const spliceControl = (s: Duplex): Pick<HeadFirst, 'takeOver' | 'release'> | undefined => pending.get(s)

/**
 * Where a connection accepted by the HTTP server goes (lib/http/divert.ts), for
 * the port hosts of `baseDomain`. Costs every connection one read
 * before the HTTP server sees it; a head longer than the first read goes the usual way.
 */
export function portHostDivert(baseDomain: string): (socket: Socket, serve: (s: Duplex) => void) => void {
  return (socket, serve) => {
    const timer = setTimeout(() => start(null), FIRST_BYTES_MS)
    const start = (first: Buffer | null) => {
      clearTimeout(timer)
      socket.off('readable', onReadable).off('close', onClose).off('error', onError)
      const end = first ? first.indexOf(END_OF_HEAD) : -1
      const host = end > 0 ? HOST_LINE.exec(first!.toString('latin1', 0, end + 2))?.[1] : undefined
      if (!first || !portHost(host, baseDomain)) {
        if (first) socket.unshift(first)
        return serve(socket)
      }
      const s = new HeadFirst(socket, first.subarray(0, end + 4), first.subarray(end + 4))
      pending.set(s, s)
      serve(s)
    }
    const onReadable = () => {
      const b = socket.read() as Buffer | null
      if (b) start(b)
    }
    const onClose = () => clearTimeout(timer)
    // a client gone before its first bytes (a reset): the HTTP server never sees it
    const onError = () => socket.destroy()
    socket.on('readable', onReadable).once('close', onClose).on('error', onError)
  }
}

/** What takeOver() hands over: the client's connection, and the bytes already read past the first head. */
export type Taken = { socket: Socket; rest: Buffer }

/**
 * The HTTP server's view of a port-host connection: the first head, then
 * (after release) the rest of the connection; its answers go to the client
 * until the connection is taken over, after which they are dropped.
 */
class HeadFirst extends Duplex {
  #raw: Socket
  #rest: Buffer | null
  #taken = false
  #released = false

  constructor(raw: Socket, head: Buffer, rest: Buffer) {
    super({ allowHalfOpen: true })
    this.#raw = raw
    this.#rest = rest
    this.push(head)
    raw.on('error', this.#onError).on('close', this.#onClose).on('timeout', this.#onTimeout)
  }

  #onError = (err: Error) => this.destroy(err)
  #onClose = () => this.destroy()
  #onTimeout = () => this.emit('timeout')
  #onData = (d: Buffer) => {
    if (!this.push(d)) this.#raw.pause()
  }
  #onEnd = () => this.push(null)

  /** The client's connection, for good: nothing of it reaches the HTTP server after this. */
  takeOver(): Taken {
    this.#taken = true
    pending.delete(this)
    this.#raw.off('error', this.#onError).off('close', this.#onClose).off('timeout', this.#onTimeout)
    this.#raw.setTimeout(0)
    const buffered: Buffer[] = [this.#rest ?? Buffer.alloc(0)]
    for (let b = this.#raw.read() as Buffer | null; b; b = this.#raw.read() as Buffer | null) buffered.push(b)
    this.#rest = null
    return { socket: this.#raw, rest: Buffer.concat(buffered) }
  }

  /** The rest of the connection goes to the HTTP server, request by request, as any other. */
  release(): void {
    if (this.#released || this.#taken) return
    this.#released = true
    pending.delete(this)
    if (this.#rest?.length) this.push(this.#rest)
    this.#rest = null
    this.#raw.on('data', this.#onData).on('end', this.#onEnd)
  }

  override _read() {
    if (this.#released) this.#raw.resume()
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
    if (this.#taken) return cb()
    this.#raw.write(chunk, cb)
  }
  override _final(cb: () => void) {
    if (!this.#taken) this.#raw.end()
    cb()
    if (this.#taken) this.destroy()
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void) {
    pending.delete(this)
    if (!this.#taken) this.#raw.destroy()
    cb(err)
  }

  // what Node's HTTP server and the routes ask of a socket
  get remoteAddress() {
    return this.#raw.remoteAddress
  }
  get remotePort() {
    return this.#raw.remotePort
  }
  get remoteFamily() {
    return this.#raw.remoteFamily
  }
  get localAddress() {
    return this.#raw.localAddress
  }
  get localPort() {
    return this.#raw.localPort
  }
  setTimeout(ms: number, cb?: () => void) {
    if (cb) this.once('timeout', cb)
    if (!this.#taken) this.#raw.setTimeout(ms)
    return this
  }
  setNoDelay(on?: boolean) {
    this.#raw.setNoDelay(on)
    return this
  }
  setKeepAlive(on?: boolean, delay?: number) {
    this.#raw.setKeepAlive(on, delay)
    return this
  }
}
