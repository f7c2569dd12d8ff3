/**
 * A real SSE client for the event tests: the `eventsource` package (the WHATWG
 * EventSource for Node) with the caller's API key added to its requests.
 */
import { EventSource } from 'eventsource'

export type Got = { id: string; type: string; data: Record<string, unknown> }

export type Stream = {
  es: EventSource
  got: Got[]
  /** Requests made (the first, then reconnects), with the Last-Event-ID each sent. */
  requests: Array<string | null>
  waitFor: (pred: (g: Got[]) => boolean, what: string, ms?: number) => Promise<void>
  close: () => void
}

export function openStream(url: string, opts: { key?: string; cookie?: string; types: string[]; lastEventId?: string }): Stream {
  const got: Got[] = []
  const requests: Array<string | null> = []
  const es = new EventSource(url, {
    fetch: (u, init) => {
      const headers = new Headers(init.headers)
      if (opts.key) headers.set('x-api-key', opts.key)
      if (opts.cookie) headers.set('cookie', opts.cookie)
      if (opts.lastEventId && !headers.has('last-event-id')) headers.set('last-event-id', opts.lastEventId)
      requests.push(headers.get('last-event-id'))
      return fetch(u, { ...init, headers })
    },
  })
  for (const t of opts.types) es.addEventListener(t, (e) => got.push({ id: e.lastEventId, type: e.type, data: JSON.parse(e.data) }))
  const waitFor: Stream['waitFor'] = async (pred, what, ms = 10_000) => {
    const t0 = Date.now()
    while (!pred(got)) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(got.map((g) => [g.id, g.type]))}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  return { es, got, requests, waitFor, close: () => es.close() }
}
