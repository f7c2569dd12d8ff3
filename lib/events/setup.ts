/** Wires the events domain into a nestbox: the event log with its retention job and shutdown. */
import type { Core } from '../core/wiring.ts'
import { join } from 'node:path'
import type { AuditLog } from './audit.ts'
import { createSealer } from './channels/crypto.ts'
import { destinationAgent } from './channels/destination.ts'
import { createDispatcher } from './channels/dispatcher.ts'
import { createChannelService } from './channels/service.ts'
import { deleteFinishedDeliveriesBefore } from './channels/store.ts'
import { createEventLog } from './service.ts'

export type EventsCore = Pick<Core, 'config' | 'dataDir' | 'db' | 'bus' | 'clock' | 'ids' | 'log' | 'jobs' | 'lifecycle'>

export function setupEvents(core: EventsCore, audit: AuditLog) {
  const log = core.log.child({ mod: 'events' })
  const cfg = core.config.events
  const events = createEventLog({ db: core.db, bus: core.bus, clock: core.clock, log, config: cfg })
  const agent = destinationAgent(cfg.channels.allowPrivateDestinations, cfg.channels.timeoutMs)
  const sealer = createSealer(cfg.channels.keyFile || join(core.dataDir, 'channels.key'))
  const channels = createChannelService({ db: core.db, clock: core.clock, ids: core.ids, audit, sealer, settings: cfg.channels, agent })
  const dispatcher = createDispatcher({ db: core.db, clock: core.clock, ids: core.ids, log: log.child({ mod: 'channels' }), bus: core.bus, channels, agent, settings: cfg.channels })
  events.onAppend((rows) => dispatcher.onAppend(rows))
  core.bus.subscribe((e) => {
    if (e.type === 'team.delete' && e.teamId) void channels.removeTeam(e.teamId).catch((err) => log.error('removing a deleted team\'s channels failed', { err, teamId: e.teamId }))
  })
  core.jobs.add({
    name: 'events.retention',
    everyMs: cfg.retentionIntervalMs,
    run: async () => {
      const before = core.clock.now() - cfg.retentionHours * 3_600_000
      return { ...(await events.prune()), deliveries: await deleteFinishedDeliveriesBefore(core.db, before) }
    },
  })
  core.lifecycle.onStart(() => dispatcher.start())
  // streams end with the HTTP drain, or server.close() would wait for them
  core.lifecycle.onClosing(() => events.close())
  // registered before the other domains' stop hooks, so it runs after them: their last events reach the log
  core.lifecycle.onStop(async () => {
    await events.settled()
    await dispatcher.stop()
    await agent.close()
  })
  return { events, channels, dispatcher }
}
export type EventsDomain = ReturnType<typeof setupEvents>
