/**
 * The subdomain proxy (seed 001): `{prefix}-{shortId}.{baseDomain}` carries HTTP,
 * SSE and WebSockets to the sandbox's service — a cloud sandbox's port through
 * the capsule ports relay (lib/capsules/ports.ts), a local sandbox through its
 * agent's tunnel — with the service's credential put in and nestbox's cookie
 * taken out. It works on Node's request and socket (served before Hono), so the
 * proxy adds little to each request. Who may enter: entry.ts.
 */
import { request as httpRequest, STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { freeParsedReads } from '../core/buffers.ts'
import { isAppError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { CapsuleService } from '../capsules/service.ts'
import type { AgentTunnels } from '../tunnel/agent-hub.ts'
import type { Entry } from './entry.ts'
import { LAUNCHERS } from './launchers.ts'
import type { SandboxRow } from './tables.ts'
import type { SandboxTokens } from './tokens.ts'

export const COOKIE = 'nestbox_sandbox'
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'authorization', 'host'])
const RESPONSE_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer'])

export type ProxyDeps = {
  entry: Entry
  capsules: CapsuleService
  tokens: SandboxTokens
  log: Logger
  /** The sandbox of a host's short id with its current status (cached by the service), or null. */
  sandbox: (shortId: string) => Promise<SandboxRow | null>
  tunnels: () => AgentTunnels | null
}

type Failure = { status: number; title: string; message: string }
const fail = (status: number, title: string, message: string): Failure => ({ status, title, message })

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
function page(f: Failure): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escape(f.title)}</title><style>body{font:16px system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}</style></head><body><h1>${escape(f.title)}</h1><p>${escape(f.message)}</p><p><small>nestbox sandbox proxy · ${f.status}</small></p></body></html>\n`
}

function cookieOf(req: IncomingMessage): string | undefined {
  const raw = req.headers.cookie
  if (!raw) return undefined
  for (const part of raw.split(/;\s*/)) if (part.startsWith(`${COOKIE}=`)) return part.slice(COOKIE.length + 1)
  return undefined
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * The cookie is SameSite=Lax, and every {port}-{capsule} and other sandbox host is
 * the same site: so a state change or a WebSocket must come from this very origin
 * (browsers send Origin with both), not from a page another capsule serves.
 */
function sameOrigin(req: IncomingMessage): boolean {
  if (SAFE.has(req.method ?? 'GET') && !req.headers.upgrade) return true
  const origin = req.headers.origin
  if (origin === undefined) return true // not a browser's cross-origin request
  try {
    return new URL(origin).host === req.headers.host?.toLowerCase()
  } catch {
    return false
  }
}

const isHttps = (req: IncomingMessage) => (req.socket as { encrypted?: boolean }).encrypted === true || req.headers['x-forwarded-proto'] === 'https'

/** The request's headers as the service should get them: its credential in, nestbox's cookie out. */
function forwarded(req: IncomingMessage, authorization: string, withForwarded = true): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = {}
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) h[k] = v
  if (typeof h.cookie === 'string') {
    const kept = h.cookie.split(/;\s*/).filter((kv) => !kv.startsWith(`${COOKIE}=`))
    if (kept.length) h.cookie = kept.join('; ')
    else delete h.cookie
  }
  h.host = req.headers.host ?? 'localhost'
  h.authorization = authorization
  for (const k of ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'x-real-ip']) delete h[k]
  if (!withForwarded) return h
  h['x-forwarded-host'] = req.headers.host ?? ''
  h['x-forwarded-proto'] = isHttps(req) ? 'https' : 'http'
  h['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ')
  return h
}

/** The tunnel forwards req.headers as they are: the same edits as forwarded() made in place. */
function asForwarded(req: IncomingMessage, authorization: string, withForwarded: boolean) {
  const h = forwarded(req, authorization, withForwarded)
  for (const k of Object.keys(req.headers)) if (!(k in h) && !HOP.has(k)) delete req.headers[k]
  if (!('cookie' in h)) delete req.headers.cookie
  Object.assign(req.headers, h)
}

export function createSubdomainProxy(d: ProxyDeps) {
  /** The sandbox a request may reach now, or why not. /auth answers itself (returns 'answered'). */
  async function admit(req: IncomingMessage, res: ServerResponse | null): Promise<SandboxRow | Failure | 'answered'> {
    const hit = d.entry.parseHost(req.headers.host)!
    const sb = await d.sandbox(hit.shortId)
    if (!sb || sb.type !== hit.type) return fail(404, 'No such sandbox', 'This sandbox does not exist (it may have been deleted).')
    const url = req.url ?? '/'
    try {
      if (res && (url === '/auth' || url.startsWith('/auth?'))) {
        const token = new URLSearchParams(url.slice(6)).get('token') ?? ''
        const cookie = await d.entry.enter(sb, token)
        res.writeHead(302, { location: '/', 'set-cookie': `${COOKIE}=${cookie}; Path=/; HttpOnly; SameSite=Lax${isHttps(req) ? '; Secure' : ''}`, 'cache-control': 'no-store', 'content-length': 0 })
        res.end()
        return 'answered'
      }
      await d.entry.admit(sb, cookieOf(req))
      if (!sameOrigin(req)) return fail(403, 'Not allowed', 'A page of another site may not send requests to this sandbox with your sign-in.')
    } catch (err) {
      if (isAppError(err) && err.status < 500) return fail(err.status, err.status === 403 ? 'Not allowed' : 'Sign-in needed', err.message)
      throw err
    }
    if (sb.kind === 'local') {
      if (!d.tunnels()?.connected(sb.id)) return fail(503, 'Local agent offline', `The local agent "${sb.name}" is not connected. Start it on its machine (nestbox agent connect) and reload.`)
      return sb
    }
    if (sb.status === 'running') return sb
    const why: Record<string, string> = {
      creating: 'The sandbox is starting; reload in a moment.',
      paused: 'The sandbox is paused. Resume it from its workspace, then reload.',
      stopped: 'The sandbox is stopped.',
      error: `The sandbox failed: ${sb.error ?? 'unknown error'}`,
      offline: 'The sandbox is offline.',
    }
    return fail(503, 'Sandbox not running', why[sb.status] ?? `The sandbox is ${sb.status}.`)
  }

  const sendPage = (res: ServerResponse, f: Failure) => {
    const body = page(f)
    res.writeHead(f.status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
    res.end(body)
  }
  const socketPage = (socket: Duplex, f: Failure) => {
    const body = page(f)
    if (!socket.destroyed) socket.end(`HTTP/1.1 ${f.status} ${STATUS_CODES[f.status] ?? ''}\r\nconnection: close\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }
  const internal = (err: unknown, id: string | undefined) => {
    d.log.error('sandbox proxy failed', { err, sandbox: id })
    return fail(502, 'Sandbox unreachable', 'nestbox could not reach the sandbox\'s service.')
  }

  function toCapsule(sb: SandboxRow, req: IncomingMessage, res: ServerResponse) {
    const l = LAUNCHERS[sb.type]
    const up = httpRequest({ method: req.method, path: req.url, headers: forwarded(req, l.authorization(d.tokens.serviceToken(sb.id)), l.forwardedHeaders), agent: d.capsules.portConnections.agent(sb.capsule_id!, l.port) })
    up.on('error', (err) => {
      if (!res.headersSent) sendPage(res, fail(502, 'Sandbox service not answering', `${sb.type} is not answering in the sandbox (${(err as NodeJS.ErrnoException).code ?? err.message}).`))
      else res.destroy()
    })
    up.on('response', (r) => {
      const headers: string[] = []
      for (let i = 0; i < r.rawHeaders.length; i += 2) if (!RESPONSE_HOP.has(r.rawHeaders[i].toLowerCase())) headers.push(r.rawHeaders[i], r.rawHeaders[i + 1])
      res.writeHead(r.statusCode ?? 502, r.statusMessage, headers)
      // SSE and long answers stream with backpressure; a client that leaves ends the upstream request
      freeParsedReads(r)
      r.pipe(res)
      res.on('close', () => r.destroy())
    })
    // a request without a body is sent at once (piping would wait for its 'end' a turn later)
    if (!req.headers['content-length'] && !req.headers['transfer-encoding']) {
      req.resume()
      up.end()
    } else req.pipe(up)
  }

  return {
    isSandboxHost: (host: string | undefined) => d.entry.parseHost(host) !== null,

    /** A DirectRoute: takes every request to a sandbox host and answers it (false for other hosts). */
    serveHttp(req: IncomingMessage, res: ServerResponse): boolean | Promise<boolean> {
      if (!d.entry.parseHost(req.headers.host)) return false
      return admit(req, res).then(
        (r) => {
          if (r === 'answered') return true
          if (!('id' in r)) return sendPage(res, r), true
          if (r.kind === 'local') {
            asForwarded(req, LAUNCHERS[r.type].authorization(d.tokens.serviceToken(r.id)), LAUNCHERS[r.type].forwardedHeaders)
            d.tunnels()!.request(r.id, req, res)
          } else toCapsule(r, req, res)
          return true
        },
        (err) => (sendPage(res, internal(err, undefined)), true),
      )
    },

    /** A WebSocket (or other upgrade) to a sandbox host, on the raw socket. */
    async serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
      let r: Awaited<ReturnType<typeof admit>>
      try {
        r = await admit(req, null)
      } catch (err) {
        return socketPage(socket, internal(err, undefined))
      }
      if (r === 'answered') return
      if (!('id' in r)) return socketPage(socket, r)
      const auth = LAUNCHERS[r.type].authorization(d.tokens.serviceToken(r.id))
      if (r.kind === 'local') {
        asForwarded(req, auth, LAUNCHERS[r.type].forwardedHeaders)
        return d.tunnels()!.upgrade(r.id, req, socket, head)
      }
      const sb = r
      const up = await d.capsules.portConnections.connect({ id: sb.capsule_id!, port: LAUNCHERS[sb.type].port }).catch((err) => {
        socketPage(socket, fail(502, 'Sandbox service not answering', `${sb.type} is not answering in the sandbox (${(err as Error).message}).`))
        return null
      })
      if (!up) return
      const h = forwarded(req, auth, LAUNCHERS[sb.type].forwardedHeaders)
      h.connection = 'Upgrade'
      h.upgrade = req.headers.upgrade
      const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(h).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}`))]
      up.write(lines.join('\r\n') + '\r\n\r\n')
      if (head.length) up.write(head)
      up.pipe(socket).on('error', () => up.destroy())
      socket.pipe(up).on('error', () => socket.destroy())
      const end = () => (up.destroy(), socket.destroy())
      up.on('close', end)
      socket.on('close', end)
      up.on('error', end)
      socket.on('error', end)
    },
  }
}
export type SubdomainProxy = ReturnType<typeof createSubdomainProxy>
