/**
 * Listing objects in key order, with S3's prefix/delimiter grouping: keys that
 * contain the delimiter after the prefix collapse into one common prefix, and
 * the scan then jumps past every key under it.
 */
import type { Db } from '../core/db.ts'
import type { Clock } from '../core/ids.ts'
import type { Buckets } from './buckets.ts'
import { toInfo } from './object-meta.ts'
import { listObjectRows, successor } from './store.ts'
import type { ObjectInfo, StorageCaller } from './types.ts'

export type ListQuery = {
  prefix?: string
  delimiter?: string
  /** Resume strictly after this key (marker, start-after, continuation); a common prefix resumes past its keys. */
  after?: string
  maxKeys: number
}
export type ListPage = {
  objects: ObjectInfo[]
  commonPrefixes: string[]
  truncated: boolean
  /** The last key or common prefix returned, to resume from. */
  last: string | undefined
}

export const MAX_KEYS = 1000

export function createListing(d: { db: Db; clock: Clock; buckets: Buckets }) {
  return {
    async list(c: StorageCaller, bucket: string, q: ListQuery): Promise<ListPage> {
      const b = d.buckets.authorize(c, bucket, 'list')
      const prefix = q.prefix ?? ''
      const delim = q.delimiter || undefined
      const max = Math.max(0, Math.min(q.maxKeys, MAX_KEYS))
      const now = d.clock.now()
      const page: ListPage = { objects: [], commonPrefixes: [], truncated: false, last: undefined }
      let after = q.after
      let from: string | undefined
      // Resuming from a common prefix: skip everything under it.
      if (delim && after !== undefined && after.startsWith(prefix) && after.length > prefix.length && after.endsWith(delim) && after.indexOf(delim, prefix.length) === after.length - delim.length) {
        const next = successor(after)
        if (next === null) return page
        from = next
        after = undefined
      }
      if (max === 0) return page
      let count = 0
      for (;;) {
        const limit = max - count + 1
        const rows = await listObjectRows(d.db, b.name, { prefix, after, from, limit, now })
        if (!rows.length) return page
        let jumped = false
        for (const r of rows) {
          const i = delim ? r.key.indexOf(delim, prefix.length) : -1
          const item = i >= 0 ? r.key.slice(0, i + delim!.length) : r.key
          if (count >= max) {
            page.truncated = true
            return page
          }
          count++
          page.last = item
          if (i < 0) {
            page.objects.push(toInfo(r))
            after = r.key
            continue
          }
          page.commonPrefixes.push(item)
          const next = successor(item)
          if (next === null) return page
          from = next
          after = undefined
          jumped = true
          break
        }
        if (!jumped && rows.length < limit) return page
      }
    },
  }
}
export type Listing = ReturnType<typeof createListing>
