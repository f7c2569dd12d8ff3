/** How one client format meets one provider format for a chat call. */
import type { SseHandler } from '../calls/sse.ts'
import type { Usage } from '../spend/usage.ts'
import type { Op } from '../providers/types.ts'

export type StreamObserver = {
  usage: (u: Usage) => void
  /** The client asked for stream_options.include_usage (we always ask the upstream). */
  clientWantsUsage: boolean
}

export type Translation = {
  /** Whether answers are rewritten (parsed whole) rather than passed on unchanged. */
  rewrites: boolean
  /** The operation the upstream is called with. */
  op: Op
  /** The upstream's request body for the client's body (model already replaced). */
  request(body: Record<string, unknown>, stream: boolean): Record<string, unknown>
  /** The client's answer for the upstream's JSON answer; null = send the upstream bytes unchanged. */
  response(json: Record<string, unknown>, model: string): Record<string, unknown> | null
  /** A fresh handler for one streamed answer (it may keep state between events). */
  stream(o: StreamObserver, model: string): SseHandler
  /** Usage in the upstream's JSON answer. */
  usage(json: Record<string, unknown>): Usage | null
}
