/** Wires template builds: after the capsule service (builds run in capsules), recovered after it starts, stopped before it stops. */
import type { CapsuleService } from '../../capsules/service.ts'
import type { AuditLog } from '../audit.ts'
import { destinationAgent } from '../channels/destination.ts'
import type { EventsCore } from '../setup.ts'
import { createBuildRunner } from './runner.ts'
import { createBuildService } from './service.ts'

export function setupBuilds(core: EventsCore, d: { audit: AuditLog; capsules: CapsuleService }) {
  const log = core.log.child({ mod: 'builds' })
  const settings = core.config.events.builds
  const agent = destinationAgent(settings.allowPrivateUrls, settings.stepTimeoutSec * 1000)
  const run = createBuildRunner({ db: core.db, bus: core.bus, clock: core.clock, log, capsules: d.capsules, agent, settings, allowPrivate: settings.allowPrivateUrls })
  const builds = createBuildService({ db: core.db, bus: core.bus, clock: core.clock, ids: core.ids, log, audit: d.audit, capsules: d.capsules, run, settings })
  core.lifecycle.onStart(() => builds.recover())
  core.lifecycle.onStop(async () => {
    await builds.stop()
    await agent.close()
  })
  return builds
}
