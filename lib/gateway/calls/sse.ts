/**
 * Server-sent events through the gateway: upstream bytes are parsed with
 * eventsource-parser as they arrive, each event is handed to a handler that
 * emits frames for the client (the same event, a filtered one, or a translated
 * one), and the frames of one upstream chunk leave in one write.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser'

export type SseHandler = ((e: EventSourceMessage, emit: (frame: string) => void) => void) & {
  /** Called once when the upstream stream ended normally, for frames a translation still owes the client. */
  finish?: (emit: (frame: string) => void) => void
}

/** One SSE frame. Multi-line data gets one data: line per line, as the format requires. */
export function sseFrame(data: string, event?: string): string {
  const body = data.includes('\n') ? data.split('\n').map((l) => `data: ${l}`).join('\n') : `data: ${data}`
  return event ? `event: ${event}\n${body}\n\n` : `${body}\n\n`
}

export function createSseRelay(handle: SseHandler) {
  const decoder = new TextDecoder()
  let out = ''
  const emit = (frame: string) => {
    out += frame
  }
  const parser = createParser({ onEvent: (e) => handle(e, emit) })
  return {
    /** The client frames produced by one upstream chunk ('' when none yet). */
    feed(chunk: Uint8Array): string {
      parser.feed(decoder.decode(chunk, { stream: true }))
      const frames = out
      out = ''
      return frames
    },
    /** Frames of a last event the upstream did not terminate with a blank line. */
    end(): string {
      parser.feed(decoder.decode() + '\n\n')
      handle.finish?.(emit)
      const frames = out
      out = ''
      return frames
    },
  }
}
