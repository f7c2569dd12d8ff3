/**
 * Credit flow control for one tunnel stream, the same on both ends (agent-hub.ts,
 * agent-client.ts). The sender never has more than the granted window of a
 * stream's bytes unacknowledged; the receiver grants bytes back only once its
 * destination (an HTTP response, a socket) has taken them. So a slow browser or
 * a slow local service holds back its own stream only, and nothing is dropped.
 */
import type { Readable, Writable } from 'node:stream'
import { INITIAL_WINDOW, MAX_CHUNK, type Frame } from './agent-frames.ts'

/** Sends a frame; `done` runs once the frame is written to the tunnel's socket. */
export type SendFrame = (header: Frame, payload?: Buffer, done?: () => void) => void

/** Bytes a batch may hold before it is written anyway (bounds the memory a batch pins). */
export const BATCH_MAX = 256 * 1024

/**
 * Holds a sink's writes until the event loop's poll phase is over (setImmediate),
 * so the frames made from the several reads libuv does per wake-up leave in one
 * writev, at most BATCH_MAX bytes each: every syscall on a loopback socket wakes
 * the reader, and one per 16 KiB frame (or per 64 KiB read) made that wake-up the
 * tunnel's main cost. Call hold() before each write, and release() before ending
 * the sink.
 */
export function batchWrites(sink: { cork(): void; uncork(): void; readonly writableLength: number }) {
  let corked = false
  const release = () => {
    if (!corked) return
    corked = false
    sink.uncork()
  }
  return {
    hold() {
      if (corked && sink.writableLength < BATCH_MAX) return
      release()
      corked = true
      sink.cork()
      setImmediate(release)
    },
    release,
  }
}

export type Outflow = {
  /** The peer granted `n` more bytes. */
  grant(n: number): void
  /** Stops reading the source (the stream was cancelled). */
  stop(): void
}

/**
 * Sends `source` as `stream` frames of `id` (≤ 16 KiB each), then a `done:true` frame.
 * `selfGrant`: the peer does not speak `window`; bytes count as granted once
 * written to the tunnel's socket (so the pace is still the socket's, not unbounded).
 */
export function sendBody(id: string, source: Readable, send: SendFrame, o: { selfGrant?: boolean; onError?: (err: Error) => void } = {}): Outflow {
  let credit = INITIAL_WINDOW
  let held: Buffer | null = null
  let ended = false
  let stopped = false

  const push = (buf: Buffer): Buffer | null => {
    let i = 0
    while (i < buf.length && credit > 0) {
      const c = buf.subarray(i, i + Math.min(MAX_CHUNK, credit))
      credit -= c.length
      i += c.length
      send({ type: 'stream', id, done: false }, c, o.selfGrant ? () => out.grant(c.length) : undefined)
    }
    return i < buf.length ? buf.subarray(i) : null
  }
  const finish = () => {
    if (held || !ended || stopped) return
    stopped = true
    send({ type: 'stream', id, done: true })
  }
  const onData = (buf: Buffer) => {
    held = push(buf)
    if (held) source.pause()
  }
  source.on('data', onData)
  source.once('end', () => {
    ended = true
    finish()
  })
  source.once('error', (err) => {
    if (!stopped) o.onError?.(err)
  })
  const out: Outflow = {
    grant(n) {
      if (stopped) return
      credit += n
      if (held) held = push(held)
      if (held) return
      if (ended) finish()
      else if (source.isPaused()) source.resume()
    },
    stop() {
      stopped = true
      source.off('data', onData)
    },
  }
  return out
}

export type Inflow = {
  /** A payload arrived; false if the peer sent beyond its window (the stream must be cancelled). */
  write(buf: Buffer): boolean
  end(): void
}

/** Writes a stream's payloads into `sink`, granting the bytes back as the sink takes them. */
export function receiveInto(id: string, sink: Writable, send: SendFrame): Inflow {
  let outstanding = 0 // received, not yet granted back
  let taken = 0 // taken by the sink, not yet granted back
  const batch = batchWrites(sink)
  return {
    write(buf) {
      outstanding += buf.length
      if (outstanding > INITIAL_WINDOW) return false
      batch.hold()
      sink.write(buf, (err) => {
        if (err) return
        taken += buf.length
        // grant in batches (a quarter window each): the sender only waits once a whole window is out, so this always comes
        if (taken >= INITIAL_WINDOW / 4) {
          send({ type: 'window', id, bytes: taken })
          outstanding -= taken
          taken = 0
        }
      })
      return true
    },
    end() {
      batch.release()
      sink.end()
    },
  }
}
