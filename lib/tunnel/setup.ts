/** Wires the tunnel into a nestbox: checks at setup (a bad path or file stops the start), cloudflared once the port is known, stop when nestbox closes. */
import type { Core } from '../core/wiring.ts'
import { join } from 'node:path'
import { createTunnelService } from './service.ts'

export type TunnelCore = Pick<Core, 'config' | 'dataDir' | 'log' | 'site' | 'lifecycle'>

/** cloudflared reaches nestbox on loopback when it listens on every address, else on the address it listens on. */
export function originUrl(host: string, port: number): string {
  const h = host === '' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' || host === '[::]' ? '[::1]' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return `http://${h}:${port}`
}

export function setupTunnel(core: TunnelCore) {
  const svc = createTunnelService({ config: core.config.tunnel.cloudflared, log: core.log.child({ mod: 'tunnel' }), site: core.site, pidFile: join(core.dataDir, 'cloudflared.pid') })
  if (!svc.enabled) return svc
  svc.prepare()
  core.lifecycle.onListening((port) => svc.start(originUrl(core.config.listen.host, port)))
  // Stopped as HTTP starts draining: cloudflared stops taking new requests and finishes the ones in flight alongside.
  core.lifecycle.onClosing(() => svc.stop())
  return svc
}
