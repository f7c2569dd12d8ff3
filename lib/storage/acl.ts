/**
 * S3 access control lists on nestbox's model: a bucket is private or
 * public-read, and its objects are what their bucket is. An ACL that says
 * exactly that is accepted; one nestbox cannot honour is refused with
 * NotImplemented, never silently ignored.
 */
import { AppError } from '../core/errors.ts'
import type { Bucket } from './types.ts'

export type Acl = 'private' | 'public-read'

/** Canned ACLs S3 knows; null: a grant nestbox has no way to give. */
const CANNED: Record<string, Acl | null> = {
  private: 'private',
  'public-read': 'public-read',
  // The bucket's owner is every object's owner here, so these are "private".
  'bucket-owner-full-control': 'private',
  'bucket-owner-read': 'private',
  'public-read-write': null,
  'authenticated-read': null,
  'aws-exec-read': null,
  'log-delivery-write': null,
}

export const unsupportedAcl = (what: string) =>
  new AppError(501, 'NotImplemented', `${what} cannot be honoured: nestbox buckets are private or public-read, and objects take their bucket's ACL.`)

/** A canned ACL name (x-amz-acl) as nestbox's ACL. */
export function cannedAcl(name: string): Acl {
  if (!Object.hasOwn(CANNED, name)) throw new AppError(400, 'InvalidArgument', `Unknown canned ACL: ${name}`)
  const acl = CANNED[name]
  if (!acl) throw unsupportedAcl(`The canned ACL ${name}`)
  return acl
}

export const aclOf = (b: Bucket): Acl => (b.publicRead ? 'public-read' : 'private')

/** An object ACL is accepted only when it is what the bucket already gives. */
export function checkObjectAcl(b: Bucket, acl: Acl): void {
  if (acl !== aclOf(b)) throw unsupportedAcl(`An object ACL of ${acl} in ${aclOf(b)} bucket ${b.name}`)
}
