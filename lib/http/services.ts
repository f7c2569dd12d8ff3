/** Wires every domain service from the shared core pieces. */
import type { Config } from '../core/config/index.ts'
import type { Db } from '../core/db.ts'
import type { EventBus } from '../core/events.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import type { Scheduler } from '../core/jobs.ts'
import type { SiteUrl } from '../core/site-url.ts'
import type { CapsuleApi } from './capsule-api.ts'
import { createIdentityService } from '../identity/service.ts'
import { createAuditLog } from '../events/audit.ts'
import { setupEvents } from '../events/setup.ts'
import { setupBuilds } from '../events/builds/setup.ts'
import { setupCapsules } from '../capsules/setup.ts'
import { NESTBOX_URL } from '../capsules/runtime/network.ts'
import { createStorage } from '../storage/wire.ts'
import { setupGateway } from '../gateway/setup.ts'
import { setupTunnel } from '../tunnel/setup.ts'
import { setupMcp } from '../mcp/setup.ts'
import { setupClaudebox } from '../claudebox/setup.ts'
import { setupRuns } from '../runs/setup.ts'

/**
 * Start hooks run after migrations and bootstrap, before listening; listening hooks once the server listens, with its port;
 * closing hooks when shutdown begins, alongside the HTTP drain; stop hooks after HTTP has closed, before the database does (in reverse order).
 */
export type Lifecycle = {
  onStart: (fn: () => Promise<void> | void) => void
  onListening: (fn: (port: number) => void) => void
  onClosing: (fn: () => Promise<void> | void) => void
  onStop: (fn: () => Promise<void> | void) => void
}

/** `site`: this server's base URL for links, from configuration only (see core/site-url.ts). */
export type Core = {
  config: Config
  dataDir: string
  db: Db
  bus: EventBus
  clock: Clock
  ids: IdGen
  log: Logger
  jobs: Scheduler
  lifecycle: Lifecycle
  site: SiteUrl
  /** nestbox's API on the sockets capsules reach it through (capsule-api.ts). */
  capsuleApi?: CapsuleApi
}

export function createServices(core: Core) {
  const audit = createAuditLog({ db: core.db, clock: core.clock, ids: core.ids, bus: core.bus })
  const identity = createIdentityService({ db: core.db, clock: core.clock, ids: core.ids, audit, bus: core.bus, log: core.log, config: core.config.identity, site: core.site, dataDir: core.dataDir, jobs: core.jobs })
  // Each domain adds its service here, one line each.
  const { events, channels, dispatcher } = setupEvents(core, audit)
  const storage = createStorage(core)
  // capsules that reach nestbox carry a gateway key scoped to them (gateway is set up below; used at create)
  const capsules = setupCapsules(core, audit, async (teamId, capsuleId) => (await gateway.mintCapsuleKey(teamId, capsuleId, NESTBOX_URL)).env)
  const builds = setupBuilds(core, { audit, capsules })
  const gateway = setupGateway(core, identity)
  const tunnel = setupTunnel(core)
  const claudebox = setupClaudebox(core, { identity, capsules, gateway })
  const runs = setupRuns(core, { capsules, gateway })
  // The /mcp/ hub: each service with MCP tools adds its set here, one line each (loaded on first MCP request).
  const mcp = setupMcp(core, {
    audit,
    sets: [
      { name: 'storage', load: async () => (await import('../storage/mcp-tools.ts')).storageTools(storage) },
      { name: 'capsules', load: async () => (await import('../capsules/mcp-tools.ts')).capsuleTools(capsules), serveAlone: true },
      ...[claudebox.main, claudebox.zai].filter((c) => c !== null).map((c) => ({ name: c.name, load: async () => (await import('../claudebox/mcp-tools.ts')).claudeboxTools(c), ownEndpoint: true })),
    ],
  })
  return { ...core, audit, identity, storage, capsules, gateway, tunnel, events, channels, dispatcher, builds, mcp, claudebox, runs }
}
export type Services = ReturnType<typeof createServices>
