/**
 * Wires the browser cluster: its team (configured, or the first team), its
 * token (auth.ts), the pool of replicas (service.ts) with its memory watchdog,
 * and the pool's shutdown. Replicas start on first need, not at server start.
 */
import type { Core } from '../core/wiring.ts'
import { ConfigError } from '../core/config/index.ts'
import { system } from '../core/principal.ts'
import type { CapsuleService } from '../capsules/service.ts'
import type { IdentityService } from '../identity/service.ts'
import { createBrowserAuth, type BrowserAuth } from './auth.ts'
import { createBrowserPool, type BrowserPool } from './service.ts'
import { firstTeam, teamExists } from './store.ts'

export type BrowserCore = Pick<Core, 'config' | 'dataDir' | 'db' | 'clock' | 'ids' | 'log' | 'jobs' | 'lifecycle'>

export type Browser = { pool: BrowserPool; auth: BrowserAuth; teamId: () => string | null }

export function setupBrowser(core: BrowserCore, d: { identity: IdentityService; capsules: CapsuleService }): Browser | null {
  const cfg = core.config.browser
  if (!cfg.enabled) return null
  const log = core.log.child({ mod: 'browser' })
  let team: string | null = null
  const teamId = () => team
  const auth = createBrowserAuth({ identity: d.identity, dataDir: core.dataDir, token: cfg.token, log, teamId })
  const pool = createBrowserPool({ capsules: d.capsules, cfg, log, clock: core.clock, ids: core.ids, teamId })

  core.lifecycle.onStart(async () => {
    if (cfg.team && !(await teamExists(core.db, cfg.team))) throw new ConfigError(`config: browser.team ${cfg.team} is not a team`)
    team = cfg.team || (await firstTeam(core.db))?.id || null
    auth.init()
    // replicas of an earlier run cannot be reattached (their CDP connections are gone): removed in the background
    void (async () => {
      for (const row of await d.capsules.admin.list(system)) {
        if (row.status !== 'stopped' && (JSON.parse(row.metadata) as Record<string, string>).browser === 'replica') await d.capsules.admin.destroy(system, row.id).catch((err) => log.warn('old browser replica not removed', { capsule: row.id, err }))
      }
    })().catch((err) => log.warn('old browser replicas not listed', { err }))
  })
  core.jobs.add({ name: 'browser.memory', everyMs: 2000, run: () => pool.checkMemory() })
  core.lifecycle.onStop(() => pool.shutdown())
  return { pool, auth, teamId }
}
