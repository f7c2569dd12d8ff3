/**
 * Output to a WebSocket peer that may read slower than nestbox produces. ws
 * queues whatever it is given, so a peer that stops reading would let that
 * queue grow without end: the outbox counts the bytes handed to ws whose
 * frames the socket has not yet taken (ws calls a send's callback once its
 * frame is written). Past `high` it is full and the caller stops its source or
 * closes the socket; once the count falls to `low` it has drained.
 */
import type { WebSocket } from 'ws'
import { freeNow } from '../core/buffers.ts'

/** Close code for a peer that left too much output unread (RFC 6455 policy violation). */
export const SLOW_READER_CLOSE = 1008

export type Outbox = {
  /** Sends a text frame (string) or a binary frame (Buffer) if the socket is open. */
  send(data: string | Buffer): void
  readonly full: boolean
  /** Bytes handed to ws and not yet written to the socket. */
  readonly pending: number
}

export function wsOutbox(ws: WebSocket, o: { high: number; low?: number; onFull?: () => void; onDrain?: () => void }): Outbox {
  const low = o.low ?? o.high / 4
  let pending = 0
  let full = false
  return {
    send(data) {
      if (ws.readyState !== ws.OPEN) return
      // a text frame's bytes are ours: freed as soon as the socket took them (core/buffers.ts)
      const own = typeof data === 'string' ? Buffer.from(data) : null
      const n = own ? own.length : (data as Buffer).length
      pending += n
      ws.send(own ?? data, { binary: !own }, () => {
        if (own) freeNow(own)
        pending -= n
        if (full && pending <= low) {
          full = false
          o.onDrain?.()
        }
      })
      if (!full && pending > o.high) {
        full = true
        o.onFull?.()
      }
    },
    get full() {
      return full
    },
    get pending() {
      return pending
    },
  }
}
