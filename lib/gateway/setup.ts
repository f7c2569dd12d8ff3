/**
 * Wires the gateway into the process: models and router from the configuration
 * (a bad entry stops start, naming it), the master key (configured, or
 * generated at first start into bootstrap.txt and kept as a hash), the spend
 * writer, and the jobs that reset budgets and expire spend logs.
 */
import type { Core } from '../core/wiring.ts'
import { appendFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, type Config } from '../core/config/index.ts'
import type { IdentityService } from '../identity/service.ts'
import { createBudgets } from './keys/budgets.ts'
import { createCallers, keyHash } from './keys/callers.ts'
import { createCapsuleKeys } from './keys/capsule-keys.ts'
import { createModelRegistry } from './routing/deployments.ts'
import { nextBudgetReset, validTimezone } from './keys/durations.ts'
import { createVirtualKeys, newKeyToken } from './keys/keys.ts'
import { createLimits } from './keys/limits.ts'
import { createProxy } from './calls/proxy.ts'
import { createRouter, routerSettings } from './routing/router.ts'
import { createGatewayService } from './service.ts'
import { createSpendWriter } from './spend/writer.ts'
import { deleteSpendBefore, getSetting, putSettingOnce, resetDueBudgets } from './store.ts'

export type GatewayCore = Pick<Core, 'config' | 'dataDir' | 'db' | 'bus' | 'clock' | 'ids' | 'log' | 'jobs' | 'lifecycle'>

export function setupGateway(core: GatewayCore, identity: IdentityService) {
  const cfg = core.config.gateway
  const lite = core.config.litellm
  const log = core.log.child({ mod: 'gateway' })
  if (!validTimezone(cfg.budgetTimezone)) throw new ConfigError(`config: gateway.budgetTimezone "${cfg.budgetTimezone}" is not a known timezone`)
  const registry = createModelRegistry(lite)
  let settings
  try {
    settings = routerSettings(lite.routerSettings, lite.litellmSettings)
  } catch (e) {
    throw new ConfigError(`config: ${lite.file ?? 'gateway.routerSettings'}: ${(e as Error).message}`)
  }
  const router = createRouter({ registry, settings, clock: core.clock })
  const proxy = createProxy({ router, now: core.clock.now })
  const keys = createVirtualKeys({ db: core.db, clock: core.clock, ids: core.ids, timezone: cfg.budgetTimezone })
  let masterHash: string | null = lite.masterKey ? keyHash(lite.masterKey) : null
  const callers = createCallers({ identity, keys, masterHash: () => masterHash })
  const limits = createLimits(core.clock)
  const spend = createSpendWriter({ db: core.db, log, flushMs: cfg.spendLogs.flushMs })
  const service = createGatewayService({ db: core.db, clock: core.clock, log, registry, proxy, callers, keys, limits, spend, timezone: cfg.budgetTimezone })

  core.jobs.add({
    name: 'gateway.budgets',
    everyMs: 60_000,
    run: async () => {
      limits.sweep()
      const reset = await resetDueBudgets(core.db, core.clock.now(), (dur) => nextBudgetReset(dur, core.clock.now(), cfg.budgetTimezone))
      if (reset.keys.length) keys.afterReset(reset.keys)
      for (const t of reset.teams) service.teamReset(t)
      return { reset: reset.keys.length + reset.teams.length }
    },
  })
  core.jobs.add({
    name: 'gateway.spend-retention',
    everyMs: 3_600_000,
    run: async () => ({ deleted: await deleteSpendBefore(core.db, core.clock.now() - cfg.spendLogs.retentionDays * 86_400_000) }),
  })

  core.lifecycle.onStart(async () => {
    if (lite.unsupported.length) log.warn('gateway: LiteLLM config keys nestbox does not implement were ignored', { keys: lite.unsupported })
    log.info('gateway: models loaded', { groups: registry.groupNames().length, file: lite.file })
    if (masterHash) return
    const stored = await getSetting(core.db, 'master_key_hash')
    if (stored) {
      masterHash = stored
      return
    }
    const token = newKeyToken()
    masterHash = await putSettingOnce(core.db, 'master_key_hash', keyHash(token))
    if (masterHash === keyHash(token)) {
      const file = join(core.dataDir, 'bootstrap.txt')
      appendFileSync(file, ['# LLM gateway master key (Bearer for /chat/completions, /v1/messages, /key/*...)', `gateway_master_key=${token}`].join('\n') + '\n', { mode: 0o600 })
      chmodSync(file, 0o600)
      log.info('gateway: generated master key written to bootstrap.txt', { file })
    }
  })
  core.lifecycle.onStop(() => spend.flush())

  const capsuleKeys = createCapsuleKeys({ db: core.db, keys })
  // A destroyed capsule's key dies with it; a deleted team's keys stop working.
  core.bus.subscribe((e) => {
    if (e.type === 'capsule.destroy' && e.resourceId && (e.data as { outcome?: string } | undefined)?.outcome === 'success')
      capsuleKeys.revoke(e.resourceId).catch((err) => log.error('gateway: capsule key not revoked', { err, capsule: e.resourceId }))
    if (e.type === 'team.delete' && e.teamId) keys.removeTeam(e.teamId).catch((err) => log.error('gateway: team keys not removed', { err, team: e.teamId }))
  })
  const budgets = createBudgets({ db: core.db, clock: core.clock, timezone: cfg.budgetTimezone, changed: service.teamChanged, liveSpend: service.teamSpend })
  return Object.assign(service, {
    budgets,
    flushSpend: () => spend.flush(),
    /** Credentials for a capsule that can reach nestbox at `baseUrl`: a key scoped to the capsule and its team, spending against the team's budget. */
    mintCapsuleKey: (teamId: string, capsuleId: string, baseUrl: string) => capsuleKeys.mint(teamId, capsuleId, baseUrl),
    /** Revokes a capsule's key (also done on capsule.destroy). */
    revokeCapsuleKey: (capsuleId: string) => capsuleKeys.revoke(capsuleId),
  })
}
export type Gateway = ReturnType<typeof setupGateway>
