/**
 * Wires sandboxes: the service over its capsule driver, the subdomain entry and
 * proxy, the gateway hook that lets proxy tokens use /proxy/anthropic, and the
 * events that keep statuses in line with capsules and teams.
 */
import { join } from 'node:path'
import type { Core } from '../core/wiring.ts'
import { ConfigError } from '../core/config/index.ts'
import type { CapsuleService } from '../capsules/service.ts'
import type { Gateway } from '../gateway/setup.ts'
import type { IdentityService } from '../identity/service.ts'
import type { AgentTunnels } from '../tunnel/agent-hub.ts'
import { createCloudDriver } from './cloud.ts'
import { createEntry } from './entry.ts'
import { createOpenclawInstaller, findNodeDir, findOpencode, openclawDirOf } from './packages.ts'
import { createSubdomainProxy } from './proxy.ts'
import { createSandboxService } from './service.ts'
import { deleteTeamSandboxes, markLocalSandboxesOffline } from './store.ts'
import { createSandboxTokens, isProxyTokenShaped } from './tokens.ts'

export type SandboxCore = Pick<Core, 'config' | 'dataDir' | 'db' | 'bus' | 'clock' | 'ids' | 'log' | 'lifecycle' | 'site'>

export function setupSandboxes(core: SandboxCore, d: { identity: IdentityService; capsules: CapsuleService; gateway: Gateway }) {
  const cfg = core.config.sandboxes
  const log = core.log.child({ mod: 'sandboxes' })
  if (cfg.opencodePrefix === cfg.openclawPrefix) throw new ConfigError('config: sandboxes.opencodePrefix and sandboxes.openclawPrefix must differ')
  const tokens = createSandboxTokens(join(core.dataDir, 'sandboxes.key'))
  const prefixes = { opencode: cfg.opencodePrefix, openclaw: cfg.openclawPrefix }
  const baseDomain = core.config.baseDomain
  const scheme = () => new URL(core.site.url).protocol
  const entry = createEntry({ db: core.db, clock: core.clock, tokens, sessions: d.identity.sessions, prefixes, baseDomain })

  const nodeDir = () => findNodeDir()
  const installer = createOpenclawInstaller({ dir: openclawDirOf(cfg, core.dataDir), version: cfg.openclawVersion, nodeDir, log })
  const cloud = createCloudDriver({
    capsules: d.capsules,
    tokens,
    log,
    paths: { opencode: () => findOpencode(cfg.opencodeBin), openclawDir: () => installer.ensure(), nodeDir },
    memoryMb: cfg.memoryMb,
    vcpus: cfg.vcpus,
    model: cfg.model,
    startTimeoutMs: cfg.startTimeoutSec * 1000,
    origin: (sb) => (baseDomain ? `${scheme()}//${prefixes[sb.type]}-${sb.short_id}.${baseDomain}` : null),
  })

  let tunnels: (AgentTunnels & { disconnect?: (id: string) => void }) | null = null
  const service = createSandboxService({ db: core.db, clock: core.clock, ids: core.ids, log, tokens, cloud, onRemoved: (sb) => sb.kind === 'local' && tunnels?.disconnect?.(sb.id) })
  const proxy = createSubdomainProxy({ entry, capsules: d.capsules, tokens, log, sandbox: (shortId) => service.byShortId(shortId), tunnels: () => tunnels })

  d.gateway.proxyTokens.register({
    owns: isProxyTokenShaped,
    async resolve(token) {
      const sb = await service.proxyCaller(token)
      return sb ? { teamId: sb.team_id, userId: sb.created_by, alias: `sandbox:${sb.name}`, sandboxId: sb.id, capsuleId: sb.capsule_id } : null
    },
  })

  core.lifecycle.onStart(async () => void (await markLocalSandboxesOffline(core.db, core.clock.now())))
  core.bus.subscribe((e) => {
    if (e.type === 'capsule.state.changed' && e.resourceId) void service.capsuleChanged(e.resourceId).catch((err) => log.warn('sandbox status not updated', { err, capsule: e.resourceId }))
    if (e.type === 'team.delete' && e.teamId)
      void deleteTeamSandboxes(core.db, e.teamId)
        .then((rows) => service.removeTeam(rows))
        .catch((err) => log.error('sandboxes of a deleted team not removed', { err, team: e.teamId }))
  })

  return {
    service,
    entry,
    proxy,
    scheme,
    /** The local agents' tunnel hub (lib/tunnel), set once it is made. */
    useTunnels(t: AgentTunnels & { disconnect?: (id: string) => void }) {
      tunnels = t
    },
  }
}
export type Sandboxes = ReturnType<typeof setupSandboxes>
