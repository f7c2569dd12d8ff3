/** Wires the capsule domain into a nestbox: runtime driver, service, jobs, start/stop hooks. */
import { join } from 'node:path'
import type { Core } from '../http/services.ts'
import type { AuditLog } from '../events/audit.ts'
import { createProcessRuntime } from './runtime/process.ts'
import { createCapsuleService } from './service.ts'

export function setupCapsules(core: Core, audit: AuditLog) {
  const log = core.log.child({ mod: 'capsules' })
  const p = core.config.capsules.process
  const runtime = createProcessRuntime({
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
  })
  const svc = createCapsuleService({ db: core.db, runtime, bus: core.bus, audit, clock: core.clock, ids: core.ids, log, config: core.config.capsules, dataDir: core.dataDir })
  svc.registerJobs(core.jobs)
  // Capsules come back before HTTP listens; on stop, after HTTP has closed.
  core.lifecycle.onStart(async () => {
    await svc.recover()
  })
  core.lifecycle.onStop(() => svc.shutdown())
  return svc
}
