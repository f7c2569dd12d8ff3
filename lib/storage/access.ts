/**
 * Who may do what, for both surfaces. Public-read buckets can be read and listed
 * by anyone; writes need the bucket's key or the master key; creating and
 * deleting buckets needs the master key. A caller learns nothing about buckets
 * it cannot use: a missing bucket and a forbidden one give the same AccessDenied,
 * except to the master key (which sees NoSuchBucket).
 */
import { AppError } from '../core/errors.ts'
import type { Bucket, StorageCaller } from './types.ts'

export type Action = 'read' | 'list' | 'write'

export const isMaster = (c: StorageCaller) => c.kind === 'master' || c.kind === 'system'

export function allowed(c: StorageCaller, b: Bucket, action: Action): boolean {
  if (isMaster(c)) return true
  if (c.kind === 'bucket' && c.bucket === b.name) return true
  return b.publicRead && (action === 'read' || action === 'list')
}

export const accessDenied = (message = 'Access Denied') => new AppError(403, 'AccessDenied', message)
export const noSuchBucket = (name: string) => new AppError(404, 'NoSuchBucket', `The specified bucket does not exist: ${name}`)

/** The bucket when `c` may perform `action` on it; otherwise the error the caller is allowed to see. */
export function authorize(c: StorageCaller, b: Bucket | undefined, name: string, action: Action): Bucket {
  if (!b) throw isMaster(c) ? noSuchBucket(name) : accessDenied()
  if (!allowed(c, b, action)) throw accessDenied()
  return b
}

/** Buckets a caller may list: all for the master key, its own for a bucket key, none for anonymous. */
export function visibleBuckets(c: StorageCaller, all: Bucket[]): Bucket[] {
  if (isMaster(c)) return all
  if (c.kind === 'bucket') return all.filter((b) => b.name === c.bucket)
  throw accessDenied()
}
