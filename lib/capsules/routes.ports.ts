/**
 * Capsule port exposure: HTTP (streamed both ways: SSE, chunked, large bodies)
 * and WebSockets to any TCP port listening inside a capsule, by path
 * (`/v1/capsules/{id}/ports/{port}/...`) or by host (`{port}-{id}.{baseDomain}`,
 * E2B's convention). Access rules and the connection: ports.ts.
 *
 * A browser follows a link with `?nestbox_token=` once; the token is then kept in
 * a cookie scoped to that port, so the app's own requests carry it. nestbox's
 * credentials (API key, session, token) are never passed on to the app.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono'
import { getCookie } from 'hono/cookie'
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import { Readable, type Writable } from 'node:stream'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { freeNow, freeParsedReads } from '../core/buffers.ts'
import type { Entry } from '../http/surface.ts'
import type { AppEnv } from '../http/types.ts'
import { takeOverUpgrade } from '../http/websocket.ts'
import { spliceControl } from './port-splice.ts'
import { portHost } from './ports.ts'
import { jsonBody } from './routes.v1.ts'
import type { CapsuleService } from './service.ts'

const TOKEN_PARAM = 'nestbox_token'
const TOKEN_COOKIE = 'nestbox_port_token'
/** Not passed on: hop-by-hop headers (RFC 9110 §7.6.1) and nestbox's own. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'x-csrf-token'])
const OWN_COOKIES = /^(wrenn_sid|wrenn_csrf|wrenn_oauth_[a-z_]+|ws_session|nestbox_port_token)$/

export type PortUrls = { publicUrl: () => string; baseDomain: string }

export { portHost }

/** The request's query string, with its '?' ('' when none). */
const searchOf = (c: Context<AppEnv>) => {
  const q = c.req.url.indexOf('?')
  return q < 0 ? '' : c.req.url.slice(q)
}

function tokenOf(c: Context<AppEnv>): { token: string | null; fromQuery: boolean } {
  const q = c.req.query(TOKEN_PARAM)
  if (q) return { token: q, fromQuery: true }
  return { token: getCookie(c, TOKEN_COOKIE) ?? null, fromQuery: false }
}

/** A request header's value as the app may see it, without nestbox's own credentials; null when nothing of it is passed on. */
function passedOn(name: string, v: string): string | null {
  if (name === 'x-api-key' && v.startsWith('wrn_')) return null
  if (name === 'authorization' && /^Bearer\s+wrn_/i.test(v)) return null
  if (name === 'cookie') {
    const kept = v.split(/;\s*/).filter((kv) => !OWN_COOKIES.test(kv.split('=')[0]))
    return kept.length ? kept.join('; ') : null
  }
  return v
}

/** What nestbox says about the client: X-Forwarded-Host, -Proto and -For. */
function forwarded(incoming: IncomingMessage): Record<string, string> {
  return {
    'x-forwarded-host': incoming.headers.host ?? '',
    'x-forwarded-proto': (incoming.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    'x-forwarded-for': [incoming.headers['x-forwarded-for'], incoming.socket.remoteAddress].filter(Boolean).join(', '),
  }
}

/** The request's headers as the app inside should see them. */
function forwardedHeaders(incoming: IncomingMessage, host: string, prefix: string | null): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = {}
  for (const [k, v] of Object.entries(incoming.headers)) {
    if (v === undefined || HOP.has(k)) continue
    const kept = typeof v === 'string' ? passedOn(k, v) : v
    if (kept !== null) h[k] = kept
  }
  Object.assign(h, forwarded(incoming))
  if (prefix) h['x-forwarded-prefix'] = prefix
  h.host = host
  return h
}

/**
 * The head of a host-routed connection's first request as the app gets it: the
 * client's own header lines and framing (its body follows as sent), without
 * nestbox's credentials, with X-Forwarded-*.
 */
function splicedHead(incoming: IncomingMessage, target: string): Buffer {
  const lines = [`${incoming.method} ${target} HTTP/${incoming.httpVersion}`]
  const raw = incoming.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    if (name === 'proxy-authorization' || name === 'x-csrf-token' || name.startsWith('x-forwarded-')) continue
    const v = passedOn(name, raw[i + 1])
    if (v !== null) lines.push(`${raw[i]}: ${v}`)
  }
  for (const [k, v] of Object.entries(forwarded(incoming))) lines.push(`${k}: ${v}`)
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1')
}

type Opened = { id: string; port: number }

/** Carries one WebSocket to the capsule's port: the upgrade request, then bytes both ways. */
async function proxyUpgrade(c: Context<AppEnv>, svc: CapsuleService, to: Opened, path: string, headers: OutgoingHttpHeaders): Promise<Response> {
  const incoming = c.env.incoming as IncomingMessage
  const up = await svc.portConnections.connect(to)
  const client = takeOverUpgrade(c)
  headers.connection = 'Upgrade'
  headers.upgrade = incoming.headers.upgrade
  const head = [`${incoming.method} ${path} HTTP/1.1`, ...Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}`))]
  up.write(head.join('\r\n') + '\r\n\r\n')
  up.resume()
  up.pipe(client).on('error', () => up.destroy())
  client.pipe(up).on('error', () => client.destroy())
  const end = () => (up.destroy(), client.destroy())
  up.on('close', end)
  client.on('close', end)
  return new Response(null, { status: 101 })
}

/**
 * `from` into `to` with backpressure, each chunk that owns its buffer freed as
 * soon as `to` took it (core/buffers.ts): a 1 GiB answer does not pile up
 * ~64 MiB of read buffers until V8 next collects.
 */
function pipeFreeing(from: Readable, to: Writable) {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk, () => freeNow(chunk))) from.pause()
  })
  to.on('drain', () => from.resume())
  from.on('end', () => to.end())
}

/**
 * Carries one HTTP request to the capsule's port over a pooled relay connection.
 * The answer is piped into Node's response (no web stream per chunk: a large
 * download does not grow nestbox's memory), with backpressure both ways.
 */
function proxyHttp(c: Context<AppEnv>, svc: CapsuleService, to: Opened, path: string, headers: OutgoingHttpHeaders, setCookie: string | null): Promise<Response> {
  const incoming = c.env.incoming as IncomingMessage
  const outgoing = c.env.outgoing
  const req = httpRequest({ method: incoming.method, path, headers, agent: svc.portConnections.agent(to.id, to.port) })
  // a request without a body may have been read to its end already (its 'end' then never comes again)
  const bodyless = !incoming.headers['content-length'] && !incoming.headers['transfer-encoding']
  if (bodyless || incoming.readableEnded) req.end()
  else pipeFreeing(incoming, req)
  return new Promise<Response>((resolve, reject) => {
    // before any response: the relay answered ERR (nothing listens) or the app hung up
    req.on('error', (err: NodeJS.ErrnoException) => reject(svc.portConnections.closed(to, err)))
    req.on('response', (res) => {
      const raw: string[] = []
      for (let i = 0; i < res.rawHeaders.length; i += 2) if (!HOP.has(res.rawHeaders[i].toLowerCase())) raw.push(res.rawHeaders[i], res.rawHeaders[i + 1])
      if (setCookie) raw.push('set-cookie', setCookie)
      const noBody = res.statusCode === 204 || res.statusCode === 304 || incoming.method === 'HEAD'
      if (noBody) res.resume()
      // no body: an ordinary Response (Hono answers HEAD with a copy of the GET's, which must not be RESPONSE_ALREADY_SENT)
      if (!outgoing || outgoing.headersSent || noBody) {
        const h = new Headers()
        for (let i = 0; i < raw.length; i += 2) h.append(raw[i], raw[i + 1])
        return resolve(new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream), { status: res.statusCode ?? 502, statusText: res.statusMessage, headers: h }))
      }
      req.removeAllListeners('error').on('error', () => outgoing.destroy())
      outgoing.writeHead(res.statusCode ?? 502, res.statusMessage, raw)
      // an app that breaks off mid-answer cuts the client's connection (a short body, not a silent end); a client that goes away ends the request upstream
      res.on('error', () => outgoing.destroy()).on('aborted', () => outgoing.destroy())
      outgoing.on('close', () => res.destroy())
      freeParsedReads(res)
      pipeFreeing(res, outgoing)
      resolve(RESPONSE_ALREADY_SENT)
    })
  })
}

/**
 * The first request of a host-routed connection, authorized by a port token or
 * as a public port: from here the connection belongs to the capsule's port, and
 * nestbox carries its bytes without reading them (port-splice.ts).
 */
async function spliceConnection(c: Context<AppEnv>, svc: CapsuleService, to: Opened, target: string, ctl: NonNullable<ReturnType<typeof spliceControl>>): Promise<Response> {
  const incoming = c.env.incoming as IncomingMessage
  const join = await svc.portConnections.joiner(to)
  if (incoming.headers.upgrade) takeOverUpgrade(c)
  const { socket, rest } = ctl.takeOver()
  join(socket, Buffer.concat([splicedHead(incoming, target), rest]))
  // what Node's HTTP server writes for this request goes nowhere: the app answers the client itself
  return incoming.headers.upgrade ? new Response(null, { status: 101 }) : new Response(null, { headers: { connection: 'close' } })
}

/** Opens the port for the caller (credentials, token or public) and proxies; errors go through the surface's envelope. */
async function openAndProxy(c: Context<AppEnv>, svc: CapsuleService, id: string, port: string, path: string, o: { host: (port: number) => string; prefix: string | null; cookiePath: string }) {
  const { token, fromQuery } = tokenOf(c)
  const incoming = c.env.incoming as IncomingMessage
  const ctl = spliceControl(incoming.socket)
  try {
    const to = await svc.team.ports.open(c.var.principal, id, port, token)
    const url = new URL(path, 'http://x')
    url.searchParams.delete(TOKEN_PARAM)
    const target = url.pathname + url.search
    // Only a connection whose first request carries no account credential (API key, session) is handed over:
    // the app sees later requests as sent, and must never see those. A token in the query gets its cookie set first.
    if (ctl && c.var.principal.kind === 'anonymous' && !fromQuery) return await spliceConnection(c, svc, to, target, ctl)
    ctl?.release()
    const headers = forwardedHeaders(incoming, o.host(to.port), o.prefix)
    if (incoming.headers.upgrade) return proxyUpgrade(c, svc, to, target, headers)
    const secure = (incoming.socket as { encrypted?: boolean }).encrypted ? '; Secure' : ''
    const setCookie = fromQuery && token ? `${TOKEN_COOKIE}=${token}; Path=${o.cookiePath}; HttpOnly; SameSite=Lax${secure}` : null
    return proxyHttp(c, svc, to, target, headers, setCookie)
  } catch (err) {
    // the answer (an error) and the rest of the connection go through the HTTP server as usual
    ctl?.release()
    throw err
  }
}

/** /v1/capsules/{id}/ports/{port}/... and the token endpoint; mounted inside the Wrenn surface. */
export function portRoutesV1(svc: CapsuleService, urls: PortUrls) {
  const r = new Hono<AppEnv>()
  r.post('/:id/ports/:port/token', async (c) => {
    const body = (await jsonBody(c)) as { ttl_sec?: unknown }
    const t = await svc.team.ports.mintToken(c.var.principal, c.req.param('id'), c.req.param('port'), body.ttl_sec ?? 3600)
    const q = `?${TOKEN_PARAM}=${encodeURIComponent(t.token)}`
    return c.json({
      capsule_id: t.capsuleId,
      port: t.port,
      token: t.token,
      expires_at: new Date(t.expiresAt).toISOString(),
      url: `${urls.publicUrl()}/v1/capsules/${t.capsuleId}/ports/${t.port}/${q}`,
      ...(urls.baseDomain ? { host_url: `${new URL(urls.publicUrl()).protocol}//${t.port}-${t.capsuleId}.${urls.baseDomain}/${q}` } : {}),
    })
  })
  const handler = (c: Context<AppEnv>) => {
    const id = c.req.param('id')!
    const port = c.req.param('port')!
    const prefix = `/v1/capsules/${id}/ports/${port}`
    const rest = c.req.path.slice(c.req.path.indexOf(prefix) + prefix.length) || '/'
    return openAndProxy(c, svc, id, port, rest + searchOf(c), { host: (p) => `localhost:${p}`, prefix, cookiePath: `${prefix}/` })
  }
  r.all('/:id/ports/:port{[0-9]+}', handler)
  r.all('/:id/ports/:port{[0-9]+}/*', handler)
  return r
}

/** Requests to `{port}-{capsule}.{baseDomain}`: every path goes to the capsule's port, after `entry` (the Wrenn surface's auth). */
export function portHostRouting(svc: CapsuleService, baseDomain: string, entry: Entry): MiddlewareHandler<AppEnv> {
  return (c, next) => {
    const hit = portHost(c.req.header('host'), baseDomain)
    // a connection held for a port host whose request turned out otherwise (or was refused at the entry) goes on as usual
    const ctl = spliceControl((c.env.incoming as IncomingMessage).socket)
    if (!hit) {
      ctl?.release()
      return next()
    }
    const proxied = () => openAndProxy(c, svc, hit[0], hit[1], c.req.path + searchOf(c), { host: () => c.req.header('host')!, prefix: null, cookiePath: '/' })
    if (!ctl) return entry(c, proxied)
    return (async () => {
      try {
        return await entry(c, proxied)
      } catch (err) {
        ctl.release()
        throw err
      }
    })()
  }
}
