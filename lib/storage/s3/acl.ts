/**
 * S3 ACL wire format: x-amz-acl and x-amz-grant-* headers, AccessControlPolicy
 * documents, and Get/Put Bucket/Object ACL. What an ACL may say is decided in
 * ../acl.ts; this file only reads and writes it.
 */
import { AppError } from '../../core/errors.ts'
import { cannedAcl, unsupportedAcl, type Acl } from '../acl.ts'
import type { StorageRequest } from '../http-request.ts'
import { readSmallBody } from './body.ts'
import type { S3Ctx } from './request.ts'
import { OWNER, parseXml, xmlResponse } from './xml.ts'

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers'
const XSI = 'http://www.w3.org/2001/XMLSchema-instance'

/** The ACL a write asks for in its headers; undefined when it asks for none. */
export function requestedAcl(req: StorageRequest): Acl | undefined {
  const grant = req.headerNames().find((n) => n.startsWith('x-amz-grant-'))
  const canned = req.header('x-amz-acl')
  if (grant && canned !== undefined) throw new AppError(400, 'InvalidRequest', 'Specifying both Canned ACLs and Header Grants is not allowed')
  if (grant) throw unsupportedAcl(`The ${grant} header`)
  return canned === undefined ? undefined : cannedAcl(canned.trim())
}

type Grant = { Grantee?: { ID?: unknown; URI?: unknown; EmailAddress?: unknown }; Permission?: unknown }

/** An AccessControlPolicy document: the owner's FULL_CONTROL, and AllUsers READ or nothing else. */
function aclFromDocument(doc: Record<string, unknown>): Acl {
  const list = doc.AccessControlList as { Grant?: Grant[] } | undefined
  let publicRead = false
  for (const g of list?.Grant ?? []) {
    const who = g.Grantee ?? {}
    const perm = String(g.Permission ?? '').trim()
    if (who.URI !== undefined && String(who.URI).trim() === ALL_USERS && perm === 'READ') publicRead = true
    else if (who.ID !== undefined && String(who.ID).trim() === OWNER.ID && perm === 'FULL_CONTROL') continue
    else throw unsupportedAcl(`A grant of ${perm || 'nothing'} to ${String(who.URI ?? who.ID ?? who.EmailAddress ?? 'an unknown grantee').trim()}`)
  }
  return publicRead ? 'public-read' : 'private'
}

/** PutBucketAcl / PutObjectAcl: a canned header, or a document in the body (not both). */
async function aclToSet(x: S3Ctx): Promise<Acl> {
  const fromHeaders = requestedAcl(x.req)
  const body = await readSmallBody(x.req, x.auth.sig, 64 * 1024)
  if (body.length && fromHeaders !== undefined) throw new AppError(400, 'UnexpectedContent', 'This request does not support content when an ACL header is given')
  if (fromHeaders !== undefined) return fromHeaders
  if (!body.length) throw new AppError(400, 'MissingSecurityHeader', 'Your request was missing a required header: x-amz-acl (or an AccessControlPolicy body)')
  return aclFromDocument(parseXml(body, 'AccessControlPolicy'))
}

function aclResponse(acl: Acl): Response {
  const grant = (grantee: Record<string, unknown>, type: string, permission: string) => ({ Grantee: { '@_xmlns:xsi': XSI, '@_xsi:type': type, ...grantee }, Permission: permission })
  const grants = [grant({ ID: OWNER.ID, DisplayName: OWNER.DisplayName }, 'CanonicalUser', 'FULL_CONTROL')]
  if (acl === 'public-read') grants.push(grant({ URI: ALL_USERS }, 'Group', 'READ'))
  return xmlResponse('AccessControlPolicy', { Owner: OWNER, AccessControlList: { Grant: grants } })
}

export const getBucketAcl = (x: S3Ctx, bucket: string) => aclResponse(x.s.bucketAcl(x.auth.caller, bucket))

export async function putBucketAcl(x: S3Ctx, bucket: string): Promise<Response> {
  await x.s.setBucketAcl(x.auth.caller, bucket, await aclToSet(x))
  return new Response(null, { status: 200 })
}

export const getObjectAcl = async (x: S3Ctx, bucket: string, key: string) => aclResponse(await x.s.objectAcl(x.auth.caller, bucket, key))

export async function putObjectAcl(x: S3Ctx, bucket: string, key: string): Promise<Response> {
  await x.s.setObjectAcl(x.auth.caller, bucket, key, await aclToSet(x))
  return new Response(null, { status: 200 })
}

/** x-amz-acl on a write: refused before any byte is stored when the bucket cannot give it. */
export function acceptWriteAcl(x: S3Ctx, bucket: string): void {
  const acl = requestedAcl(x.req)
  if (acl !== undefined) x.s.acceptObjectAcl(x.auth.caller, bucket, acl)
}
