/** Wires the events domain into a nestbox: the event log with its retention job and shutdown. */
import type { Config } from '../core/config/index.ts'
import type { Db } from '../core/db.ts'
import type { EventBus } from '../core/events.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Scheduler } from '../core/jobs.ts'
import type { Logger } from '../core/logger.ts'
import { createEventLog } from './service.ts'

export type EventsCore = {
  config: Config
  dataDir: string
  db: Db
  bus: EventBus
  clock: Clock
  ids: IdGen
  log: Logger
  jobs: Scheduler
  lifecycle: { onStart: (fn: () => Promise<void> | void) => void; onClosing: (fn: () => Promise<void> | void) => void; onStop: (fn: () => Promise<void> | void) => void }
}

export function setupEvents(core: EventsCore) {
  const log = core.log.child({ mod: 'events' })
  const events = createEventLog({ db: core.db, bus: core.bus, clock: core.clock, log, config: core.config.events })
  core.jobs.add({ name: 'events.retention', everyMs: core.config.events.retentionIntervalMs, run: () => events.prune() })
  // streams end with the HTTP drain, or server.close() would wait for them
  core.lifecycle.onClosing(() => events.close())
  // registered before the other domains' stop hooks, so it runs after them: their last events reach the log
  core.lifecycle.onStop(() => events.settled())
  return { events }
}
export type EventsDomain = ReturnType<typeof setupEvents>
