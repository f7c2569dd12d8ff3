/** Wires local agents into a nestbox: the registration service, the tunnel hub (reporting to the sandboxes), a sweep of stale codes, shutdown. */
import type { Core } from '../core/wiring.ts'
import type { SandboxService } from '../sandboxes/service.ts'
import { createAgentHub } from './agent-hub.ts'
import { createAgentService } from './agent-service.ts'

export type AgentCore = Pick<Core, 'config' | 'db' | 'clock' | 'log' | 'jobs' | 'lifecycle'>

export function setupAgents(core: AgentCore, d: { sandboxes: Pick<SandboxService, 'createLocal' | 'verifyTunnelToken' | 'markAgentConnected' | 'markAgentDisconnected' | 'recordAgentInfo'> }) {
  const cfg = core.config.tunnel.agents
  const hub = createAgentHub({
    log: core.log.child({ mod: 'agents' }),
    requestTimeoutMs: cfg.requestTimeoutMs,
    pingIntervalMs: cfg.pingIntervalMs,
    hooks: {
      onConnect: (id) => d.sandboxes.markAgentConnected(id),
      onDisconnect: (id) => d.sandboxes.markAgentDisconnected(id),
      onInfo: (id, info) => d.sandboxes.recordAgentInfo(id, info),
    },
  })
  const service = createAgentService({ db: core.db, clock: core.clock, sandboxes: d.sandboxes })
  core.jobs.add({ name: 'agent-code-sweep', everyMs: 15 * 60_000, run: service.sweep })
  core.lifecycle.onClosing(() => hub.close())
  return { service, hub }
}
