/**
 * The Cloudflare tunnel: cloudflared supervised as a child of nestbox, its
 * public URL handed to the site URL (the one place that decides what links
 * nestbox generates point at), and its status for platform admins.
 */
import type { Logger } from '../core/logger.ts'
import type { Principal } from '../core/principal.ts'
import type { SiteUrl } from '../core/site-url.ts'
import { requireAdmin } from '../identity/access.ts'
import { cloudflaredArgs, cloudflaredVersion, executableOf, namedTunnelUrl, parseLogLine, type CloudflaredConfig } from './cloudflared.ts'
import { findSetpriv } from './parent-death.ts'
import { clearRun, reapLeftover, recordRun } from './pidfile.ts'
import { createSupervisor, type Run, type Supervisor, type SupervisorState } from './supervisor.ts'

export type TunnelState = 'disabled' | SupervisorState

export type TunnelStatus = {
  state: TunnelState
  mode: CloudflaredConfig['mode'] | null
  /** The tunnel's public URL: the quick tunnel's while it runs, the named tunnel's first ingress hostname. */
  url: string | null
  /** What links nestbox generates use now (publicUrl wins over the tunnel). */
  publicUrl: string
  pid: number | null
  restarts: number
  lastError: string | null
  version: string | null
  startedAt: number | null
}

/** pidFile: where the running cloudflared is recorded, so a start after a SIGKILLed nestbox can end it (pidfile.ts). */
export type TunnelDeps = { config: CloudflaredConfig; log: Logger; site: SiteUrl; pidFile: string; findSetpriv?: () => string | null }

export function createTunnelService(d: TunnelDeps) {
  const c = d.config
  const log = d.log
  let version: string | null = null
  let setpriv: string | null = null
  let namedUrl: string | null = null
  let url: string | null = null
  let sup: Supervisor | null = null

  const publish = (u: string | null) => {
    url = u
    d.site.tunnel(u)
  }

  const onLine = (raw: string, run: Run) => {
    const line = parseLogLine(raw)
    if (!line.message) return
    if (line.level === 'error') run.lastErrorLine = line.message.slice(0, 500)
    if (line.level === 'error' || line.level === 'warn') log.warn('cloudflared', { pid: run.pid, line: line.message })
    else log.debug('cloudflared', { pid: run.pid, line: line.message })
    if (line.url && c.mode === 'quick') {
      publish(line.url)
      log.info('tunnel url', { url: line.url, public_url: d.site.url, pid: run.pid })
      sup?.ready(run)
    }
    if (line.connected && c.mode === 'named') {
      if (!run.ready) log.info('tunnel connected', { url: namedUrl, pid: run.pid })
      sup?.ready(run)
    }
  }

  return {
    enabled: c.enabled,

    /** At setup, before anything starts: cloudflared runs, the named tunnel's files are readable, and whether it can be tied to our life. Throws ConfigError. */
    prepare() {
      if (c.mode === 'named') namedUrl = namedTunnelUrl(c)
      version = cloudflaredVersion(c)
      setpriv = (d.findSetpriv ?? findSetpriv)()
      reapLeftover(d.pidFile, log)
      if (!setpriv) log.warn('setpriv --pdeathsig is unavailable: if nestbox is killed with SIGKILL, cloudflared keeps running until the next start ends it (install util-linux)')
    },

    /** Once the server listens: starts cloudflared towards `originUrl` (http://127.0.0.1:PORT). */
    start(originUrl: string) {
      if (c.mode === 'named') {
        publish(namedUrl)
        if (!namedUrl) log.info('the named tunnel config routes no plain hostname; set publicUrl for the links nestbox generates')
      }
      sup = createSupervisor({
        command: executableOf(c),
        args: cloudflaredArgs(c, originUrl),
        log,
        restartDelayMs: c.restartDelayMs,
        maxDelayMs: c.maxRestartDelayMs,
        maxFailures: c.maxFailures,
        stopTimeoutMs: c.stopTimeoutMs,
        setpriv,
        onLine,
        onSpawn: (run) => recordRun(d.pidFile, run.pid!),
        onExit: () => {
          clearRun(d.pidFile)
          // A quick tunnel's URL dies with its process; the next start gets a new one.
          if (c.mode === 'quick') publish(null)
        },
      })
      sup.start()
    },

    /** Stops cloudflared (SIGTERM, SIGKILL after stopTimeoutMs); links go back to publicUrl or the listen address. */
    async stop() {
      await sup?.stop()
      publish(null)
    },

    /** GET /v1/admin/tunnel: platform admins only. */
    status(p: Principal): TunnelStatus {
      requireAdmin(p)
      const s = sup?.status()
      return {
        state: !c.enabled ? 'disabled' : (s?.state ?? 'starting'),
        mode: c.enabled ? c.mode : null,
        url,
        publicUrl: d.site.url,
        pid: s?.pid ?? null,
        restarts: s?.restarts ?? 0,
        lastError: s?.lastError ?? null,
        version,
        startedAt: s?.startedAt ?? null,
      }
    },
  }
}
export type TunnelService = ReturnType<typeof createTunnelService>
