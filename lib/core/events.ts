/** In-process event bus. Publishers never wait on subscribers; a throwing subscriber is logged, not propagated. */
import type { Logger } from './logger.ts'

export type BusEvent = {
  /** e.g. "capsule.create", "capsule.state.changed" */
  type: string
  /** Team the event belongs to; null for platform-level events. */
  teamId: string | null
  resourceType?: string
  resourceId?: string
  data?: Record<string, unknown>
  at: number
}

type Subscriber = (e: BusEvent) => void

export function createEventBus(log: Logger) {
  const subs = new Set<Subscriber>()
  return {
    publish(e: Omit<BusEvent, 'at'> & { at?: number }) {
      const ev: BusEvent = { ...e, at: e.at ?? Date.now() }
      for (const s of subs) {
        try {
          s(ev)
        } catch (err) {
          log.error('event subscriber failed', { type: ev.type, err })
        }
      }
    },
    /** Returns an unsubscribe function. */
    subscribe(fn: Subscriber): () => void {
      subs.add(fn)
      return () => subs.delete(fn)
    },
    get size() {
      return subs.size
    },
  }
}
export type EventBus = ReturnType<typeof createEventBus>
