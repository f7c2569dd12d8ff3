/**
 * Who may use /stealthy-auto-browse/: the surface's bearer token (configured,
 * or generated at first start into bootstrap.txt — never the original's
 * well-known default — and kept only as a hash), or a nestbox API key of the
 * team the pool belongs to. The pool's cookies and pages are that team's data,
 * so other teams' keys are refused.
 */
import { appendFileSync, chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { AppError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { roleAtLeast } from '../core/principal.ts'
import { safeEqual, sha256hex } from '../core/secrets.ts'
import type { IdentityService } from '../identity/service.ts'

export type BrowserAuthDeps = { identity: IdentityService; dataDir: string; token: string; log: Logger; teamId: () => string | null }

/** compat(stealthy-auto-browse 000): 401 {"success":false,"error":"Unauthorized"}. */
const unauthorized = () => new AppError(401, 'unauthorized', 'Unauthorized')

export function createBrowserAuth(d: BrowserAuthDeps) {
  let hash: string | null = d.token ? sha256hex(d.token) : null

  return {
    /** At start: the configured token, else the stored hash, else a new token written once to bootstrap.txt. */
    init() {
      if (hash) return
      const file = join(d.dataDir, 'browser-token.sha256')
      if (existsSync(file)) {
        hash = readFileSync(file, 'utf8').trim()
        return
      }
      const plain = `sab_${randomBytes(24).toString('hex')}`
      writeFileSync(file, sha256hex(plain) + '\n', { mode: 0o600, flag: 'wx' })
      hash = sha256hex(plain)
      const boot = join(d.dataDir, 'bootstrap.txt')
      appendFileSync(boot, `# /stealthy-auto-browse/ token (Authorization: Bearer)\nstealthy_auto_browse_token=${plain}\n`, { mode: 0o600 })
      chmodSync(boot, 0o600)
      d.log.info('browser: generated token written to bootstrap.txt', { file: boot })
    },

    /** Accepts the surface token or an API key (member or above) of the pool's team; throws 401/403 otherwise. */
    async check(bearer: string | undefined): Promise<void> {
      if (!bearer) throw unauthorized()
      if (bearer.startsWith('wrn_')) {
        const p = await d.identity.authenticateApiKey(bearer)
        if (!p || p.kind !== 'api_key') throw unauthorized()
        if (p.teamId !== d.teamId()) throw new AppError(403, 'forbidden', 'this browser pool belongs to another team')
        if (!roleAtLeast(p.role, 'member')) throw new AppError(403, 'insufficient_role', 'viewers cannot drive the browser pool')
        return
      }
      if (!hash || !safeEqual(sha256hex(bearer), hash)) throw unauthorized()
    },
  }
}
export type BrowserAuth = ReturnType<typeof createBrowserAuth>
