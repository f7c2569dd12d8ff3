/**
 * The optional dedicated S3 listener (storage.s3Listener): its own host/port,
 * S3 at the root, for virtual-hosted-style clients and tools that cannot use a
 * path prefix. Started and stopped by lifecycle hooks.
 */
import type { AddressInfo } from 'node:net'
import type { Logger } from '../core/logger.ts'
import { createNodeServer } from '../http/node-server.ts'
import { entryMiddleware, surfaceEntry } from '../http/surface.ts'
import { s3RootRoutes, type MountOptions } from './mount.ts'
import type { StorageService } from './service.ts'

export type S3Listener = { url: string; port: number; close: () => Promise<void> }

export async function startS3Listener(s: StorageService, o: MountOptions & { host: string; port: number; log: Logger }): Promise<S3Listener> {
  const app = s3RootRoutes(s, o, entryMiddleware(surfaceEntry(o.log)))
  const server = createNodeServer(app.fetch, o.log)
  await new Promise<void>((res, rej) => {
    server.once('error', rej)
    server.listen(o.port, o.host, () => {
      server.off('error', rej)
      res()
    })
  })
  const port = (server.address() as AddressInfo).port
  const host = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host
  o.log.info('storage: S3 listener', { host: o.host, port })
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((res) => {
        server.close(() => res())
        server.closeIdleConnections()
        setTimeout(() => server.closeAllConnections(), 5000).unref()
      }),
  }
}
