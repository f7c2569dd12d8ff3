/** Wires every domain service from the shared core pieces. */
import type { Core } from '../core/wiring.ts'
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
import { setupBrowser } from '../browser/setup.ts'
import { setupAgents } from '../tunnel/agent-setup.ts'
import { setupSandboxes } from '../sandboxes/setup.ts'

export type { Core, Lifecycle } from '../core/wiring.ts'

export function createServices(core: Core) {
  const audit = createAuditLog({ db: core.db, clock: core.clock, ids: core.ids, bus: core.bus, log: core.log })
  // registered first, so it runs last: entries recorded while the other services stop are written too
  core.lifecycle.onStop(() => audit.flush())
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
  const browser = setupBrowser(core, { identity, capsules })
  const sandboxes = setupSandboxes(core, { identity, capsules, gateway })
  const agents = setupAgents(core, { sandboxes: sandboxes.service })
  sandboxes.useTunnels(agents.hub)
  // The /mcp/ hub: each service with MCP tools adds its set here, one line each (loaded on first MCP request).
  const mcp = setupMcp(core, {
    audit,
    sets: [
      { name: 'storage', load: async () => (await import('../storage/mcp-tools.ts')).storageTools(storage) },
      { name: 'capsules', load: async () => (await import('../capsules/mcp-tools.ts')).capsuleTools(capsules), serveAlone: true },
      ...(browser ? [{ name: 'browser', load: async () => (await import('../browser/routes.mcp.ts')).hubTools(browser.pool, browser.teamId, core.config.browser.replicas) }] : []),
      ...[claudebox.main, claudebox.zai].filter((c) => c !== null).map((c) => ({ name: c.name, load: async () => (await import('../claudebox/mcp-tools.ts')).claudeboxTools(c), ownEndpoint: true })),
    ],
  })
  return { ...core, audit, identity, storage, capsules, gateway, tunnel, events, channels, dispatcher, builds, mcp, claudebox, runs, browser, sandboxes, agents: agents.service, agentTunnels: agents.hub }
}
export type Services = ReturnType<typeof createServices>
