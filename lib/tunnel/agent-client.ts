/**
 * The local agent's tunnel (`nestbox agent connect`): one WebSocket to the
 * server, serving the server's `request` and `upgrade` frames from the local
 * service on 127.0.0.1, reporting `agent_info`, and reconnecting with backoff
 * (1 s doubling to 60 s) until the server says the credentials are gone or
 * another connection replaced this one.
 */
import WebSocket from 'ws'
import type { Logger } from '../core/logger.ts'
import { CLOSE_REMOVED, CLOSE_REPLACED, decodeFrame, sendFrame, type Frame } from './agent-frames.ts'
import { batchWrites, type SendFrame } from './agent-flow.ts'
import { LocalRequest, LocalUpgrade, type AgentStream } from './agent-client-streams.ts'

export const FEATURES = 'window,upgrade'

export type AgentClientOptions = {
  server: string
  sandboxId: string
  token: string
  localPort: number
  /** Authorization sent with every request to the local service (the password of an opencode the agent started). */
  localAuthorization?: string
  log: Logger
  /** agent_info's data, sent at connect and every infoIntervalMs. */
  info: () => Promise<Record<string, unknown>>
  infoIntervalMs?: number
  minBackoffMs?: number
  maxBackoffMs?: number
}

/** Why the client stopped for good (it never stops on network errors). */
export type StopReason = 'stopped' | 'replaced' | 'removed' | 'rejected'

export function tunnelUrl(server: string, sandboxId: string, token: string): string {
  const u = new URL(`/api/tunnel/${encodeURIComponent(sandboxId)}`, server)
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:'
  u.searchParams.set('token', token)
  return u.toString()
}

export function startAgentClient(o: AgentClientOptions) {
  const infoEvery = o.infoIntervalMs ?? 20_000
  const minBackoff = o.minBackoffMs ?? 1000
  const maxBackoff = o.maxBackoffMs ?? 60_000
  let backoff = minBackoff
  let ws: WebSocket | null = null
  let retry: NodeJS.Timeout | undefined
  let stopped: StopReason | null = null
  let resolveDone!: (r: StopReason) => void
  const done = new Promise<StopReason>((r) => (resolveDone = r))
  const state = { connected: false, connects: 0 }

  const stop = (why: StopReason) => {
    if (stopped) return
    stopped = why
    clearTimeout(retry)
    ws?.close(1000, 'agent stopping')
    resolveDone(why)
  }

  const connect = () => {
    if (stopped) return
    // A zero mask: ws then skips masking, which exists to protect caches from scripts in browsers (RFC 6455 §10.3);
    // this client is no browser, and masking in JS was a fifth of its CPU per byte carried.
    const sock = new WebSocket(tunnelUrl(o.server, o.sandboxId, o.token), { headers: { 'x-tunnel-features': FEATURES }, maxPayload: 1024 * 1024, perMessageDeflate: false, generateMask: (mask) => void mask.fill(0) })
    ws = sock
    const streams = new Map<string, AgentStream>()
    let lastSeen = Date.now()
    let timer: NodeJS.Timeout | undefined
    let batch = () => {}
    sock.once('upgrade', (res) => (batch = batchWrites(res.socket).hold))
    const send: SendFrame = (h, payload, cb) => {
      if (sock.readyState !== sock.OPEN) return
      batch()
      sendFrame(sock, h, payload, cb)
    }
    const sendInfo = () =>
      o.info().then(
        (data) => sock.readyState === sock.OPEN && sock.send(JSON.stringify({ type: 'agent_info', data })),
        (err) => o.log.warn('agent_info failed', { err }),
      )

    sock.on('open', () => {
      state.connected = true
      state.connects++
      backoff = minBackoff
      o.log.info('tunnel connected', { server: o.server, sandbox: o.sandboxId })
      sendInfo()
      timer = setInterval(() => {
        // our ping's pong (or anything else) must come back within three intervals, else the connection is dead
        if (Date.now() - lastSeen > 3 * infoEvery) return sock.terminate()
        send({ type: 'ping' })
        sendInfo()
      }, infoEvery)
    })
    sock.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0
      res.resume()
      if (status === 401 || status === 403 || status === 404) {
        o.log.error('the server refused this agent\'s tunnel token; register it again with a new code', { status })
        stop('rejected')
      }
      sock.terminate()
    })
    sock.on('message', (data, isBinary) => {
      lastSeen = Date.now()
      if (!isBinary) return send({ type: 'error', message: 'the agent takes binary frames only' })
      const d = decodeFrame(data as Buffer)
      if (!d.ok) return send({ type: 'error', ...(d.id ? { id: d.id } : {}), message: d.error })
      onFrame(d.frame, d.payload)
    })
    sock.on('error', (err) => o.log.debug('tunnel error', { err: err.message }))
    sock.on('close', (code, reason) => {
      clearInterval(timer)
      for (const s of streams.values()) s.cancel()
      streams.clear()
      if (state.connected) o.log.info('tunnel closed', { code, reason: reason.toString() })
      state.connected = false
      if (code === CLOSE_REPLACED) return stop('replaced')
      if (code === CLOSE_REMOVED) return stop('removed')
      if (stopped) return
      const wait = backoff
      backoff = Math.min(backoff * 2, maxBackoff)
      o.log.info('tunnel reconnecting', { in_ms: wait })
      retry = setTimeout(connect, wait)
    })

    const onFrame = (f: Frame, payload: Buffer) => {
      switch (f.type) {
        case 'ping':
          return send({ type: 'pong' })
        case 'pong':
          return
        case 'error':
          return o.log.warn('server refused a frame', { id: f.id, message: f.message })
        case 'request':
        case 'upgrade': {
          if (streams.has(f.id)) return send({ type: 'error', id: f.id, message: `stream ${f.id} is already open` })
          const opts = { port: o.localPort, authorization: o.localAuthorization, send, onEnd: () => streams.delete(f.id) }
          try {
            streams.set(f.id, f.type === 'request' ? new LocalRequest(f.id, f, payload, opts) : new LocalUpgrade(f.id, f, opts))
          } catch (err) {
            // e.g. a header Node refuses to send: this request fails, the tunnel goes on
            send({ type: 'cancel', id: f.id, reason: `refused by the agent: ${(err as Error).message}` })
          }
          return
        }
      }
      const s = streams.get(f.id)
      if (!s) {
        if (f.type === 'stream') send({ type: 'error', id: f.id, message: `no stream with id ${f.id}` })
        return
      }
      if (f.type === 'stream') s.onStream(f, payload)
      else if (f.type === 'window') s.onWindow(f.bytes)
      else if (f.type === 'cancel') s.cancel()
    }
  }

  connect()
  return {
    get connected() {
      return state.connected
    },
    get connects() {
      return state.connects
    },
    stop: () => stop('stopped'),
    /** Resolves when the client stopped for good, with the reason. */
    done,
  }
}
export type AgentClient = ReturnType<typeof startAgentClient>
