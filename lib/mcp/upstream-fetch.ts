/**
 * The fetch the hub's Streamable HTTP clients use: undici's request API on a
 * kept keep-alive pool, answers read whole into a Response unless they are an
 * event stream. Node's global fetch builds a Request, web streams for both
 * bodies and abort listeners per call: most of the client's CPU per tool call.
 */
import { Readable } from 'node:stream'
import { Agent, type Dispatcher } from 'undici'

const agent = new Agent({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connections: null, pipelining: 1 })
const NO_BODY = new Set([101, 103, 204, 205, 304])

export const upstreamFetch: typeof fetch = async (input, init) => {
  const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
  const headers: Record<string, string> = {}
  new Headers(init?.headers).forEach((v, k) => (headers[k] = v))
  const res = await agent.request({
    origin: url.origin,
    path: url.pathname + url.search,
    method: (init?.method ?? 'GET') as Dispatcher.HttpMethod,
    headers,
    body: typeof init?.body === 'string' ? init.body : null,
    signal: init?.signal ?? undefined,
  })
  const h = new Headers()
  for (const k in res.headers) {
    const v = res.headers[k]
    if (v !== undefined) for (const x of Array.isArray(v) ? v : [v]) h.append(k, x)
  }
  if (NO_BODY.has(res.statusCode)) {
    res.body.resume()
    return new Response(null, { status: res.statusCode, headers: h })
  }
  if (/text\/event-stream/i.test(h.get('content-type') ?? '')) return new Response(Readable.toWeb(res.body) as ReadableStream, { status: res.statusCode, headers: h })
  return new Response(Buffer.from(await res.body.arrayBuffer()), { status: res.statusCode, headers: h })
}
