/**
 * Where a gateway answer goes. The HTTP routes make one from Node's
 * ServerResponse, so streamed answers are written as they arrive, with
 * backpressure, and a client that leaves is noticed at once.
 */
import type { ServerResponse } from 'node:http'

export type Sink = {
  /** A complete answer. */
  send(status: number, headers: Record<string, string>, body: string | Buffer): void
  /** Starts a streamed answer (its headers leave with the first chunk, or at the end of this event-loop turn if none comes in it). */
  start(status: number, headers: Record<string, string>): void
  /** false = the client is not reading: wait for onDrain. */
  write(chunk: string | Buffer): boolean
  end(chunk?: string): void
  onDrain(fn: () => void): void
  /** Runs once when the client's connection closes (after the end, or early). */
  onClose(fn: () => void): void
  readonly started: boolean
  /** The answer was completely sent. */
  readonly finished: boolean
}

export function nodeSink(out: ServerResponse): Sink {
  let wrote = false
  return {
    send(status, headers, body) {
      headers['content-length'] = String(Buffer.byteLength(body))
      out.writeHead(status, headers)
      out.end(body)
    },
    start(status, headers) {
      out.writeHead(status, headers)
      // An upstream's first events usually come with its headers: sent together they
      // cost one write and one wakeup of the client instead of two of each.
      setImmediate(() => {
        if (!wrote && !out.destroyed) out.flushHeaders()
      })
    },
    write(chunk) {
      wrote = true
      return out.write(chunk)
    },
    end(chunk) {
      wrote = true
      if (chunk) out.end(chunk)
      else out.end()
    },
    onDrain: (fn) => void out.on('drain', fn),
    onClose: (fn) => void out.once('close', fn),
    get started() {
      return out.headersSent
    },
    get finished() {
      return out.writableFinished
    },
  }
}
