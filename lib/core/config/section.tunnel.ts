import { bool, int, oneOf, str } from './spec.ts'

const PATH = { allowEmpty: true, pattern: /^[^\0\n]+$/, patternDoc: 'a file path' }

/** Exposure through Cloudflare: nestbox supervises `cloudflared` as its child. Owned by lib/tunnel. */
export const tunnel = {
  cloudflared: {
    enabled: bool(false, 'run cloudflared as a child of nestbox, started once the server listens'),
    /** Empty = `cloudflared` found on PATH. */
    path: str('', { ...PATH, doc: 'the cloudflared executable; empty = found on PATH' }),
    /** quick: an account-less https://*.trycloudflare.com URL, new at every start; named: the user's tunnel, config and credentials. */
    mode: oneOf('quick', ['quick', 'named'] as const, 'quick: random trycloudflare.com URL; named: your tunnel (configFile and/or tokenFile)'),
    /** named: cloudflared's config.yml (tunnel, credentials-file, ingress), passed as `--config`. */
    configFile: str('', { ...PATH, doc: 'named mode: cloudflared config.yml' }),
    /** named: the tunnel's credentials JSON, passed as `run --credentials-file` (overrides the config file's credentials-file). */
    credentialsFile: str('', { ...PATH, doc: 'named mode: tunnel credentials JSON' }),
    /** named, dashboard-managed tunnels: a file holding the tunnel token, passed as `run --token-file` (cloudflared 2025.4+); never on the command line. */
    tokenFile: str('', { ...PATH, doc: 'named mode: file holding a remotely-managed tunnel token' }),
    /** named: tunnel name or UUID for `run`; empty = the config file's `tunnel:`. */
    name: str('', { allowEmpty: true, pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, patternDoc: 'a tunnel name or UUID' }),
    /** First restart delay after cloudflared dies; doubles while runs die within maxRestartDelayMs of starting, up to it. */
    restartDelayMs: int(1000, 10, 600_000),
    maxRestartDelayMs: int(60_000, 10, 3_600_000),
    /** Consecutive runs that never got ready before the supervisor gives up (state "failed"); 0 = never give up. */
    maxFailures: int(10, 0, 1_000_000),
    /** After SIGTERM, how long cloudflared may finish in-flight requests (its --grace-period) before SIGKILL. */
    stopTimeoutMs: int(10_000, 100, 600_000),
  },
  /** Local agents (`nestbox agent connect`) over /api/tunnel/{sandboxId}. */
  agents: {
    /** How long a request through a tunnel waits for the agent's answer to begin (a streamed answer may then run on). */
    requestTimeoutMs: int(120_000, 100, 3_600_000),
    /** A ping to each agent this often; an agent silent for three intervals is dropped. */
    pingIntervalMs: int(20_000, 50, 600_000),
  },
}

type TunnelConfig = { tunnel: { cloudflared: { [K in keyof typeof tunnel.cloudflared]: unknown } } }

/** Settings that only make sense together; one message naming the keys, or null. */
export function checkTunnel(cfg: TunnelConfig): string | null {
  const c = cfg.tunnel.cloudflared
  if (!c.enabled) return null
  if (c.mode === 'named' && !c.configFile && !c.tokenFile)
    return 'tunnel.cloudflared.mode "named" needs tunnel.cloudflared.configFile (a cloudflared config.yml) or tunnel.cloudflared.tokenFile'
  if (c.mode === 'quick') {
    const stray = (['configFile', 'credentialsFile', 'tokenFile', 'name'] as const).find((k) => c[k] !== '')
    if (stray) return `tunnel.cloudflared.${stray} is only used when tunnel.cloudflared.mode is "named" (mode is "quick")`
  }
  if ((c.maxRestartDelayMs as number) < (c.restartDelayMs as number))
    return 'tunnel.cloudflared.maxRestartDelayMs must not be below tunnel.cloudflared.restartDelayMs'
  return null
}
