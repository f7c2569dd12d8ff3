/**
 * Starts and stops one nestbox: database + migrations, first-start bootstrap,
 * services, jobs, and the HTTP server with WebSocket upgrades. main.ts and the
 * test harness both use this, so tests run exactly what production runs.
 */
import type { Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Config } from '../core/config/index.ts'
import { openDb } from '../core/db.ts'
import { createEventBus } from '../core/events.ts'
import { idGen, systemClock } from '../core/ids.ts'
import { createScheduler } from '../core/jobs.ts'
import { createLogger, type Logger } from '../core/logger.ts'
import { isNewDatabase, migrate } from '../core/migrations.ts'
import { createSiteUrl } from '../core/site-url.ts'
import { bootstrapAdmin, newAdminPassword, type AdminPassword } from '../identity/bootstrap.ts'
import { createApp, createDirectRoutes } from './app.ts'
import { createCapsuleApi } from './capsule-api.ts'
import { createNodeServer } from './node-server.ts'
import { portHostDivert } from '../capsules/port-splice.ts'
import { divertConnections } from './divert.ts'
import { createServices, type Services } from './services.ts'
import { createWebSocketServer } from './websocket.ts'

export type Nestbox = {
  url: string
  port: number
  services: Services
  dataDir: string
  /** Graceful stop: stop accepting, let in-flight requests finish (bounded), stop jobs, close the database. */
  close: () => Promise<void>
}

export type StartOptions = {
  log?: Logger
  onBootstrap?: (file: string) => void
  /** A first-start admin password whose hash the caller already started (see main.ts). */
  adminPassword?: AdminPassword
}

export async function startNestbox(config: Config, opts: StartOptions = {}): Promise<Nestbox> {
  const log = opts.log ?? createLogger({ level: config.logLevel })
  const dataDir = resolve(config.dataDir)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const t0 = performance.now()
  const phases: Record<string, number> = {}
  const mark = (name: string) => (phases[name] = Math.round(performance.now() - t0))
  const handle = openDb(join(dataDir, 'nestbox.db'))
  // On a brand-new database the admin's password hash (scrypt, ~40 ms in the thread pool) runs while migrations do.
  const adminPassword = isNewDatabase(handle.sqlite) ? (opts.adminPassword ?? newAdminPassword()) : undefined
  try {
    const m = migrate(handle.sqlite)
    mark('migrate')
    if (m.applied.length) log.info('migrations applied', { applied: m.applied })
  } catch (e) {
    await handle.close()
    throw e
  }

  const jobs = createScheduler(log)
  const bus = createEventBus(log)
  const startHooks: Array<() => Promise<void> | void> = []
  const stopHooks: Array<() => Promise<void> | void> = []
  const listeningHooks: Array<(port: number) => void> = []
  const closingHooks: Array<() => Promise<void> | void> = []
  const lifecycle = {
    onStart: (fn: () => Promise<void> | void) => startHooks.push(fn),
    onListening: (fn: (port: number) => void) => listeningHooks.push(fn),
    onClosing: (fn: () => Promise<void> | void) => closingHooks.push(fn),
    onStop: (fn: () => Promise<void> | void) => stopHooks.push(fn),
  }
  const site = createSiteUrl(config)
  const wss = createWebSocketServer()
  const capsuleApi = createCapsuleApi(log)
  const services = createServices({ config, dataDir, db: handle.db, bus, clock: systemClock, ids: idGen, log, jobs, lifecycle, site, capsuleApi })
  mark('services')

  const lines = await bootstrapAdmin({ db: handle.db, clock: systemClock, ids: idGen, adminEmail: config.bootstrap.adminEmail, password: adminPassword })
  mark('bootstrap')
  if (lines) {
    const file = join(dataDir, 'bootstrap.txt')
    if (!existsSync(file)) writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 })
    opts.onBootstrap?.(file)
  }

  for (const fn of startHooks) await fn()
  mark('start_hooks')

  const startedAt = Date.now()
  const ping = handle.sqlite.prepare('SELECT 1 AS ok')
  const dbOk = () => {
    try {
      return ping.get() != null
    } catch {
      return false
    }
  }
  const app = createApp({ ...services, startedAt, dbOk })
  const server = createNodeServer(app.fetch, log, wss, createDirectRoutes(services))
  capsuleApi.serve(app.fetch)
  const diverted = config.baseDomain ? divertConnections(server, portHostDivert(config.baseDomain)) : null

  const sockets = new Set<Socket>()
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })

  await new Promise<void>((res, rej) => {
    server.once('error', rej)
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', rej)
      res()
    })
  })
  const port = (server.address() as AddressInfo).port
  site.listening(port)
  for (const fn of listeningHooks) fn(port)
  const host = config.listen.host === '0.0.0.0' || config.listen.host === '::' ? '127.0.0.1' : config.listen.host
  jobs.start()
  log.info('listening', { host: config.listen.host, port, dataDir, public_url: site.url, startup_ms: { ...phases, total: Math.round(performance.now() - t0) } })

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      log.info('shutting down')
      const closing = Promise.allSettled(closingHooks.map(async (fn) => fn()))
      const closed = new Promise<void>((res) => server.close(() => res()))
      // Connections that finish their request after close() become idle keep-alives: reap them as they do.
      const reaper = setInterval(() => server.closeIdleConnections(), 50)
      server.closeIdleConnections()
      diverted?.closeIdle()
      for (const c of wss.clients) c.close(1001, 'server shutting down')
      const timer = setTimeout(() => {
        for (const s of sockets) s.destroy()
      }, config.http.shutdownTimeoutMs)
      await closed
      clearTimeout(timer)
      clearInterval(reaper)
      for (const r of await closing) if (r.status === 'rejected') log.error('closing hook failed', { err: r.reason })
      await jobs.stop()
      for (const fn of stopHooks.reverse()) {
        try {
          await fn()
        } catch (err) {
          log.error('stop hook failed', { err })
        }
      }
      await handle.close()
      log.info('stopped')
    })())

  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port, services, dataDir, close }
}
