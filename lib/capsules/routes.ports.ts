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
import { Readable } from 'node:stream'
import { AppError } from '../core/errors.ts'
import type { Entry } from '../http/surface.ts'
import type { AppEnv } from '../http/types.ts'
import { takeOverUpgrade } from '../http/websocket.ts'
import { jsonBody } from './routes.v1.ts'
import type { CapsuleService } from './service.ts'

const TOKEN_PARAM = 'nestbox_token'
const TOKEN_COOKIE = 'nestbox_port_token'
/** Not passed on: hop-by-hop headers (RFC 9110 §7.6.1) and nestbox's own. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'x-csrf-token'])
const OWN_COOKIES = /^(wrenn_sid|wrenn_csrf|wrenn_oauth_[a-z_]+|ws_session|nestbox_port_token)$/

export type PortUrls = { publicUrl: () => string; baseDomain: string }

/** `{port}-{capsule id}.{baseDomain}` → [id, port], else null. */
export function portHost(host: string | undefined, baseDomain: string): [string, string] | null {
  if (!host || !baseDomain) return null
  const name = host.toLowerCase()
  if (!name.endsWith(`.${baseDomain}`)) return null
  const m = /^(\d{1,5})-(sb-[0-9a-f]{8})$/.exec(name.slice(0, -baseDomain.length - 1))
  return m ? [m[2], m[1]] : null
}

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

/** The request's headers as the app inside should see them. */
function forwardedHeaders(incoming: IncomingMessage, host: string, prefix: string | null): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = {}
  for (const [k, v] of Object.entries(incoming.headers)) if (v !== undefined && !HOP.has(k)) h[k] = v
  if (typeof h['x-api-key'] === 'string' && h['x-api-key'].startsWith('wrn_')) delete h['x-api-key']
  if (typeof h.authorization === 'string' && /^Bearer\s+wrn_/i.test(h.authorization)) delete h.authorization
  if (typeof h.cookie === 'string') {
    const kept = h.cookie.split(/;\s*/).filter((kv) => !OWN_COOKIES.test(kv.split('=')[0]))
    if (kept.length) h.cookie = kept.join('; ')
    else delete h.cookie
  }
  h['x-forwarded-host'] = incoming.headers.host ?? ''
  h['x-forwarded-proto'] = (incoming.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'
  h['x-forwarded-for'] = [incoming.headers['x-forwarded-for'], incoming.socket.remoteAddress].filter(Boolean).join(', ')
  if (prefix) h['x-forwarded-prefix'] = prefix
  h.host = host
  return h
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

/** Carries one HTTP request to the capsule's port over a pooled relay connection; the answer streams back with backpressure. */
function proxyHttp(c: Context<AppEnv>, svc: CapsuleService, to: Opened, path: string, headers: OutgoingHttpHeaders, setCookie: string | null): Promise<Response> {
  const incoming = c.env.incoming as IncomingMessage
  const req = httpRequest({ method: incoming.method, path, headers, agent: svc.portConnections.agent(to.id, to.port) })
  // a request without a body may have been read to its end already (its 'end' then never comes again)
  const bodyless = !incoming.headers['content-length'] && !incoming.headers['transfer-encoding']
  if (bodyless || incoming.readableEnded) req.end()
  else incoming.pipe(req)
  return new Promise<Response>((resolve, reject) => {
    // before any response: the relay answered ERR (nothing listens) or the app hung up
    req.on('error', (err: NodeJS.ErrnoException) => reject(svc.portConnections.closed(to, err)))
    req.on('response', (res) => {
      const h = new Headers()
      for (let i = 0; i < res.rawHeaders.length; i += 2) if (!HOP.has(res.rawHeaders[i].toLowerCase())) h.append(res.rawHeaders[i], res.rawHeaders[i + 1])
      if (setCookie) h.append('set-cookie', setCookie)
      const noBody = res.statusCode === 204 || res.statusCode === 304 || incoming.method === 'HEAD'
      if (noBody) res.resume()
      // a client that goes away cancels the stream, which ends the response upstream
      resolve(new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream), { status: res.statusCode ?? 502, statusText: res.statusMessage, headers: h }))
    })
  })
}

/** Opens the port for the caller (credentials, token or public) and proxies; errors go through the surface's envelope. */
async function openAndProxy(c: Context<AppEnv>, svc: CapsuleService, id: string, port: string, path: string, o: { host: (port: number) => string; prefix: string | null; cookiePath: string }) {
  const { token, fromQuery } = tokenOf(c)
  const to = await svc.team.ports.open(c.var.principal, id, port, token)
  const url = new URL(path, 'http://x')
  url.searchParams.delete(TOKEN_PARAM)
  const target = url.pathname + url.search
  const incoming = c.env.incoming as IncomingMessage
  const headers = forwardedHeaders(incoming, o.host(to.port), o.prefix)
  if (incoming.headers.upgrade) return proxyUpgrade(c, svc, to, target, headers)
  const secure = (incoming.socket as { encrypted?: boolean }).encrypted ? '; Secure' : ''
  const setCookie = fromQuery && token ? `${TOKEN_COOKIE}=${token}; Path=${o.cookiePath}; HttpOnly; SameSite=Lax${secure}` : null
  return proxyHttp(c, svc, to, target, headers, setCookie)
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
    if (!hit) return next()
    return entry(c, () => openAndProxy(c, svc, hit[0], hit[1], c.req.path + searchOf(c), { host: () => c.req.header('host')!, prefix: null, cookiePath: '/' }))
  }
}
