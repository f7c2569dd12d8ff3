/**
 * The storage sweeper (a scheduler job): deletes expired objects, aborts
 * abandoned multipart uploads, forgets long-completed ones, and removes temp
 * and orphan files. Idempotent; each step re-checks under the object's lock.
 */
import type { Db } from '../core/db.ts'
import type { Clock } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import type { DiskStore } from './bytes/disk.ts'
import type { Locks } from './locks.ts'
import type { Multipart } from './multipart.ts'
import { deleteObjectRow, expiredObjectRows, findObjectRow, oldUploadRows, referencedFiles } from './store.ts'

/** Completed uploads are remembered this long so a retried Complete gets the same answer. */
const COMPLETED_KEEP_MS = 24 * 3600 * 1000

export function createSweeper(d: { db: Db; clock: Clock; log: Logger; disk: DiskStore; locks: Locks; multipart: Multipart; multipartExpiryMs: number; forget: (bucket: string, key: string) => void }) {
  async function expireObjects(): Promise<number> {
    let n = 0
    for (;;) {
      const now = d.clock.now()
      const rows = await expiredObjectRows(d.db, now, 500)
      if (!rows.length) return n
      let progressed = false
      for (const r of rows) {
        let held
        try {
          held = await d.locks.write(r.bucket, r.key)
        } catch {
          continue // busy key: next sweep
        }
        let file: string | undefined
        try {
          const cur = await findObjectRow(d.db, r.bucket, r.key)
          if (cur && cur.expires_at !== null && cur.expires_at <= now) {
            d.forget(r.bucket, r.key)
            file = await deleteObjectRow(d.db, r.bucket, r.key)
          }
        } finally {
          held.release()
        }
        progressed = true
        if (file) {
          await d.disk.remove(file)
          n++
        }
      }
      if (!progressed || rows.length < 500) return n
    }
  }

  return {
    async sweep() {
      const now = d.clock.now()
      const expired = await expireObjects()
      let uploads = 0
      for (const u of await oldUploadRows(d.db, now - d.multipartExpiryMs, now - COMPLETED_KEEP_MS)) {
        await d.multipart.drop(u).catch((err) => d.log.warn('storage sweep: could not drop upload', { upload: u.id, err }))
        uploads++
      }
      const tmp = await d.disk.sweepTmp()
      const orphans = await d.disk.sweepOrphans((prefix) => referencedFiles(d.db, prefix))
      if (expired || uploads || orphans) d.log.info('storage sweep', { expired, uploads, tmp, orphans })
      return { expired, uploads, tmp, orphans }
    },
  }
}
