/**
 * The local agents connected to this server, one tunnel per sandbox, and the
 * way the subdomain proxy reaches them (AgentTunnels). A new connection for a
 * sandbox replaces the old one; a connection that stops answering pings is
 * dropped. Frames and flow control: agent-frames.ts, agent-flow.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'
import type { Logger } from '../core/logger.ts'
import { AgentLink, type Features } from './agent-link.ts'
import { errorPage } from './agent-hub-streams.ts'
import { CLOSE_REMOVED, CLOSE_REPLACED } from './agent-frames.ts'

/** What the subdomain proxy (lib/sandboxes) needs of the tunnels. */
export interface AgentTunnels {
  connected(sandboxId: string): boolean
  request(sandboxId: string, req: IncomingMessage, res: ServerResponse): void
  upgrade(sandboxId: string, req: IncomingMessage, socket: Duplex, head: Buffer): void
}

export type AgentHubHooks = {
  onConnect(sandboxId: string): void | Promise<void>
  onDisconnect(sandboxId: string): void | Promise<void>
  onInfo(sandboxId: string, info: Record<string, unknown>): void | Promise<void>
}

export type AgentHub = AgentTunnels & {
  /** Takes an accepted tunnel WebSocket over (the route checked its token). */
  attach(sandboxId: string, ws: WebSocket, socket: Duplex, features: Features): void
  /** Closes a sandbox's tunnel (the sandbox was deleted). */
  disconnect(sandboxId: string): void
  /** Called by the server's shutdown: closes every tunnel, each sandbox marked disconnected. */
  close(): Promise<void>
}

export function createAgentHub(o: { log: Logger; requestTimeoutMs: number; pingIntervalMs: number; hooks: AgentHubHooks }): AgentHub {
  const links = new Map<string, AgentLink>()
  const run = (what: string, sandboxId: string, fn: () => void | Promise<void>) => {
    Promise.resolve()
      .then(fn)
      .catch((err) => o.log.error(`agent ${what} hook failed`, { sandbox: sandboxId, err }))
  }

  // One timer for every tunnel: a ping each interval; silence for three intervals means the agent is gone.
  const pinger = setInterval(() => {
    const now = Date.now()
    for (const l of links.values()) {
      if (now - l.lastSeen > 3 * o.pingIntervalMs) l.ws.terminate()
      else l.send({ type: 'ping' })
    }
  }, o.pingIntervalMs)
  pinger.unref()

  return {
    connected: (id) => links.has(id),

    request(id, req, res) {
      const l = links.get(id)
      if (!l) return errorPage(res, 502, 'the local agent is offline')
      l.request(req, res)
    },

    upgrade(id, req, socket, head) {
      const l = links.get(id)
      if (!l) return void socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 27\r\n\r\nthe local agent is offline\n')
      l.upgrade(req, socket, head)
    },

    attach(id, ws, socket, features) {
      const old = links.get(id)
      const link = new AgentLink(id, ws, socket, features, { log: o.log, requestTimeoutMs: o.requestTimeoutMs, onInfo: (info) => run('info', id, () => o.hooks.onInfo(id, info)) })
      links.set(id, link)
      if (old) old.close(CLOSE_REPLACED, 'replaced by a new connection')
      o.log.info('local agent connected', { sandbox: id, replaced: !!old })
      run('connect', id, () => o.hooks.onConnect(id))
      ws.on('close', (code) => {
        if (links.get(id) !== link) return
        links.delete(id)
        o.log.info('local agent disconnected', { sandbox: id, code })
        run('disconnect', id, () => o.hooks.onDisconnect(id))
      })
    },

    disconnect(id) {
      const l = links.get(id)
      if (!l) return
      links.delete(id)
      l.close(CLOSE_REMOVED, 'sandbox removed')
    },

    async close() {
      clearInterval(pinger)
      const ids = [...links.keys()]
      for (const l of links.values()) l.close(1001, 'server shutting down')
      links.clear()
      await Promise.allSettled(ids.map((id) => o.hooks.onDisconnect(id)))
    },
  }
}
