/**
 * Wires storage into the process: the service, the sweeper job, the first-start
 * keys appended to <data>/bootstrap.txt, and the optional dedicated S3 listener.
 */
import { appendFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import type { Core } from '../core/wiring.ts'
import { startS3Listener, type S3Listener } from './listener.ts'
import { createStorageService } from './service.ts'

export function createStorage(core: Core) {
  const cfg = core.config.storage
  const log = core.log.child({ mod: 'storage' })
  const service = createStorageService({ db: core.db, clock: core.clock, ids: core.ids, log, config: cfg, dataDir: core.dataDir })
  let listener: S3Listener | undefined

  core.jobs.add({ name: 'storage.sweep', everyMs: cfg.sweepIntervalSec * 1000, run: () => service.sweep() })

  core.lifecycle.onStart(async () => {
    const lines = await service.start()
    if (lines.length) {
      const file = join(core.dataDir, 'bootstrap.txt')
      appendFileSync(file, ['# storage keys generated at first start (S3: access key = *_access_key, secret = *_key)', ...lines].join('\n') + '\n', { mode: 0o600 })
      chmodSync(file, 0o600)
      log.info('storage: generated keys written to bootstrap.txt', { file })
    }
    if (cfg.s3Listener.enabled)
      listener = await startS3Listener(service, { publicUrl: () => '', virtualHostDomain: cfg.virtualHostDomain, host: cfg.s3Listener.host, port: cfg.s3Listener.port, log })
  })
  core.lifecycle.onStop(async () => {
    await listener?.close()
    await service.close()
  })

  return Object.assign(service, {
    /** The dedicated S3 listener's URL, when enabled and started. */
    s3ListenerUrl: () => listener?.url,
  })
}
export type Storage = ReturnType<typeof createStorage>
