/** `nestbox doctor`'s cloudflared line: a warning when the tunnel is not configured, a failure when it is and cannot run. */
import { cloudflaredVersion, namedTunnelUrl, type CloudflaredConfig } from './cloudflared.ts'
import { findSetpriv } from './parent-death.ts'

const plain = (e: unknown) => new Error(`${(e as Error)?.message ?? e}`.replace(/^config: /, ''))

export function cloudflaredCheck(c: CloudflaredConfig) {
  return {
    name: 'cloudflared',
    required: c.enabled,
    run: (): string => {
      if (!c.enabled) {
        let found = 'cloudflared is not installed'
        try {
          found = `${cloudflaredVersion(c)} found`
        } catch {}
        throw new Error(`not configured (tunnel.cloudflared.enabled is false); ${found}`)
      }
      let version: string
      let where = 'quick tunnel (a new https://*.trycloudflare.com URL at every start)'
      try {
        version = cloudflaredVersion(c)
        if (c.mode === 'named') where = `named tunnel${(() => {
          const url = namedTunnelUrl(c)
          return url ? ` to ${url}` : ' (no plain ingress hostname: set publicUrl)'
        })()}`
      } catch (e) {
        throw plain(e)
      }
      const setpriv = findSetpriv()
      const guard = setpriv ? `stopped by ${setpriv} --pdeathsig if nestbox is killed` : 'no setpriv --pdeathsig (util-linux): cloudflared would outlive a SIGKILLed nestbox'
      return `${version}, ${where}; ${guard}`
    },
  }
}
