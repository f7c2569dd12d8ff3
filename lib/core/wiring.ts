/**
 * What every domain's setup is given (lib/http/services.ts builds it once): the
 * shared core pieces and the server's lifecycle hooks. It lives in lib/core so
 * domains depend on core, never on lib/http.
 */
import type { Config } from './config/index.ts'
import type { Db } from './db.ts'
import type { EventBus } from './events.ts'
import type { Clock, IdGen } from './ids.ts'
import type { Logger } from './logger.ts'
import type { Scheduler } from './jobs.ts'
import type { SiteUrl } from './site-url.ts'

/**
 * Start hooks run after migrations and bootstrap, before listening; listening hooks once the server listens, with its port;
 * closing hooks when shutdown begins, alongside the HTTP drain; stop hooks after HTTP has closed, before the database does (in reverse order).
 */
export type Lifecycle = {
  onStart: (fn: () => Promise<void> | void) => void
  onListening: (fn: (port: number) => void) => void
  onClosing: (fn: () => Promise<void> | void) => void
  onStop: (fn: () => Promise<void> | void) => void
}

/** Serves nestbox's API on a unix socket for one capsule; resolves to its closer (lib/http/capsule-api.ts). */
export type CapsuleApiListener = (capsuleId: string, socketPath: string) => Promise<() => void>

/** `site`: this server's base URL for links, from configuration only (see core/site-url.ts). */
export type Core = {
  config: Config
  dataDir: string
  db: Db
  bus: EventBus
  clock: Clock
  ids: IdGen
  log: Logger
  jobs: Scheduler
  lifecycle: Lifecycle
  site: SiteUrl
  /** nestbox's API on the sockets capsules reach it through. */
  capsuleApi?: { listen: CapsuleApiListener }
}
