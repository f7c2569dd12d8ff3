/** Wires the capsule domain into a nestbox: runtime driver, service, jobs, start/stop hooks. */
import { join } from 'node:path'
import { unavailable } from '../core/errors.ts'
import type { Core } from '../core/wiring.ts'
import type { AuditLog } from '../events/audit.ts'
import type { Runtime } from './runtime/types.ts'
import type { CapsuleDeps } from './context.ts'
import { createCapsuleService } from './service.ts'

/** `credentials`: what a capsule reaching nestbox carries to call its gateway (services.ts wires the gateway's capsule keys). */
export function setupCapsules(core: Core, audit: AuditLog, credentials?: CapsuleDeps['credentials']) {
  const log = core.log.child({ mod: 'capsules' })
  // The driver (and the native PTY addon it pulls in) loads when nestbox starts
  // serving, not when the CLI merely imports the app (`nestbox version`, `migrate`).
  let driver: Runtime | null = null
  const runtime = new Proxy({} as Runtime, {
    get: (_t, key) => {
      if (!driver) throw unavailable('the capsule runtime is not started', 'runtime_unavailable')
      return driver[key as keyof Runtime]
    },
  })
  const svc = createCapsuleService({ db: core.db, runtime, bus: core.bus, audit, clock: core.clock, ids: core.ids, log, config: core.config.capsules, dataDir: core.dataDir, credentials })
  svc.registerJobs(core.jobs)
  core.bus.subscribe((e) => {
    if (e.type === 'team.delete' && e.teamId && driver) void svc.removeTeam(e.teamId).catch((err) => log.error('team cleanup failed', { teamId: e.teamId, err }))
  })
  // Capsules come back before HTTP listens; on stop, after HTTP has closed.
  core.lifecycle.onStart(async () => {
    const { createProcessRuntime } = await import('./runtime/process.ts')
    const p = core.config.capsules.process
    driver = createProcessRuntime({
      dataDir: join(core.dataDir, 'runtime'),
      // the whole data dir (database, buckets, templates) stays invisible inside capsules
      hidePaths: [core.dataDir],
      log,
      uidBase: p.uidBase,
      uidRange: p.uidRange,
      maxCapsules: p.maxCapsules,
      pidsMax: p.pidsMax,
      cgroupParent: p.cgroupParent,
      onShutdown: p.onShutdown,
      seccomp: p.seccomp,
      diskLimits: p.diskLimits,
      writableSystem: p.writableSystem,
      api: core.capsuleApi?.listen,
    })
    await svc.recover()
  })
  core.lifecycle.onStop(async () => {
    if (driver) await svc.shutdown()
  })
  return svc
}
