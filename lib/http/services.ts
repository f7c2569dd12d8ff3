/** Wires every domain service from the shared core pieces. */
import type { Config } from '../core/config/index.ts'
import type { Db } from '../core/db.ts'
import type { EventBus } from '../core/events.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import type { Scheduler } from '../core/jobs.ts'
import { createIdentityService } from '../identity/service.ts'

export type Core = { config: Config; db: Db; bus: EventBus; clock: Clock; ids: IdGen; log: Logger; jobs: Scheduler }

export function createServices(core: Core) {
  const identity = createIdentityService({ db: core.db, clock: core.clock })
  return { ...core, identity }
}
export type Services = ReturnType<typeof createServices>
