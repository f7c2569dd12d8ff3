/**
 * The base URL nestbox puts into the links it hands out (email links, OAuth
 * redirect_uri and the redirects back to the web app). It comes from
 * configuration only, never from a request: the Host header is chosen by the
 * client, and a reset request sent with `Host: attacker.example` used to mail
 * the victim a link to attacker.example (issue 9).
 *
 * `publicUrl` when it is set; otherwise the URL of a running Cloudflare tunnel
 * (lib/tunnel reports it); otherwise the address this start listens on. It is
 * derived at each start rather than stored at the first, so a changed port or
 * address never leaves every link pointing at the old one.
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'

export type SiteUrl = {
  /** Base URL without a trailing slash. */
  readonly url: string
  readonly https: boolean
  /** True when `url` is the configured publicUrl, false when derived from the listen address. */
  readonly configured: boolean
  /** Where `url` comes from now: publicUrl, a tunnel's public URL, or the listen address. */
  readonly source: 'config' | 'tunnel' | 'listen'
  /** Called once the server listens, with the port it got (the configured one may be 0). */
  listening(port: number): void
  /** A tunnel's public URL while it has one (null when it has none); ignored when publicUrl is configured. */
  tunnel(url: string | null): void
}

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>

/** Some sandboxes refuse the netlink query behind networkInterfaces(). */
function interfaces(): Interfaces {
  try {
    return networkInterfaces()
  } catch {
    return {}
  }
}

/**
 * `http://host:port` for a listen address. A wildcard host (0.0.0.0, ::, empty)
 * becomes this machine's first non-loopback IPv4 address, the one other
 * machines on its network reach it by; 127.0.0.1 when it has none.
 */
export function listenUrl(host: string, port: number, nets?: Interfaces): string {
  let h = host
  if (h === '' || h === '0.0.0.0' || h === '::' || h === '[::]') {
    const v4 = Object.values(nets ?? interfaces()).flatMap((list) => list ?? []).find((n) => n.family === 'IPv4' && !n.internal)
    h = v4?.address ?? '127.0.0.1'
  }
  if (h.includes(':') && !h.startsWith('[')) h = `[${h}]`
  return `http://${h}:${port}`
}

export function createSiteUrl(cfg: { publicUrl: string; listen: { host: string; port: number } }, nets?: Interfaces): SiteUrl {
  const configured = cfg.publicUrl !== ''
  let listen = configured ? cfg.publicUrl.replace(/\/+$/, '') : listenUrl(cfg.listen.host, cfg.listen.port, nets)
  let tunnel: string | null = null
  const url = () => (!configured && tunnel) || listen
  return {
    get url() {
      return url()
    },
    get https() {
      return url().startsWith('https:')
    },
    configured,
    get source() {
      return configured ? 'config' : tunnel ? 'tunnel' : 'listen'
    },
    listening(port: number) {
      if (!configured) listen = listenUrl(cfg.listen.host, port, nets)
    },
    tunnel(u: string | null) {
      tunnel = u ? u.replace(/\/+$/, '') : null
    },
  }
}
