/** S3 object operations: PutObject, CopyObject, GetObject, HeadObject, DeleteObject, DeleteObjects. */
import { AppError } from '../../core/errors.ts'
import { headerOf, xmlNameOf } from '../bytes/checksums.ts'
import { downloadResponse, objectHeaders, quoteEtag } from '../http-object.ts'
import { readSmallBody, s3Body } from './body.ts'
import { conditions, copySource, intParam, storedHeaders, userMeta, type S3Ctx } from './request.ts'
import { acceptWriteAcl } from './acl.ts'
import { copyTags, requestTags } from './tagging.ts'
import { NULL_VERSION } from './versions.ts'
import { isoDate, parseXml, xmlResponse } from './xml.ts'
import type { ObjectInfo } from '../types.ts'

const RESPONSE_OVERRIDES: Record<string, string> = {
  'response-content-type': 'Content-Type',
  'response-content-language': 'Content-Language',
  'response-expires': 'Expires',
  'response-cache-control': 'Cache-Control',
  'response-content-disposition': 'Content-Disposition',
  'response-content-encoding': 'Content-Encoding',
}

function writeHeaders(info: ObjectInfo): Record<string, string> {
  const h: Record<string, string> = { ETag: quoteEtag(info.etag) }
  if (info.checksum) {
    h[headerOf(info.checksum.algorithm)] = info.checksum.value
    h['x-amz-checksum-type'] = info.checksum.type
  }
  return h
}

export async function putObject(x: S3Ctx, bucket: string, key: string): Promise<Response> {
  acceptWriteAcl(x, bucket)
  const src = copySource(x.req)
  if (src) return copyObject(x, bucket, key, src)
  const { body, declared } = s3Body(x.req, x.auth.sig)
  const info = await x.s.putObject(x.auth.caller, bucket, key, body, {
    declared,
    contentType: x.req.header('content-type') || undefined,
    meta: userMeta(x.req),
    headers: storedHeaders(x.req),
    conditions: conditions(x.req),
    tags: requestTags(x.req),
  })
  return new Response(null, { status: 200, headers: writeHeaders(info) })
}

async function copyObject(x: S3Ctx, bucket: string, key: string, src: { bucket: string; key: string }): Promise<Response> {
  const directive = (x.req.header('x-amz-metadata-directive') ?? 'COPY').toUpperCase()
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new AppError(400, 'InvalidArgument', 'Unknown metadata directive.')
  const replace = directive === 'REPLACE' ? { contentType: x.req.header('content-type') || undefined, meta: userMeta(x.req), headers: storedHeaders(x.req) } : undefined
  const info = await x.s.copyObject(x.auth.caller, { ...src, conditions: conditions(x.req, 'x-amz-copy-source-') }, { bucket, key, conditions: conditions(x.req) }, replace, copyTags(x.req))
  const body: Record<string, unknown> = { ETag: quoteEtag(info.etag), LastModified: isoDate(info.lastModified) }
  if (info.checksum) {
    body[xmlNameOf(info.checksum.algorithm)] = info.checksum.value
    body.ChecksumType = info.checksum.type
  }
  return xmlResponse('CopyObjectResult', body)
}

export async function getObject(x: S3Ctx, bucket: string, key: string, headOnly: boolean): Promise<Response> {
  // A part of a multipart object by number (the whole object is part 1 of an object uploaded in one piece).
  const partNumber = x.req.query.has('partNumber') ? intParam(x.req, 'partNumber', 1, 1, 10000) : undefined
  if (partNumber !== undefined && x.req.header('range') !== undefined) throw new AppError(400, 'InvalidRequest', 'Cannot specify both Range header and partNumber query parameter')
  const overrides: Record<string, string> = {}
  for (const [q, h] of Object.entries(RESPONSE_OVERRIDES)) {
    const v = x.req.query.get(q)
    if (v === undefined) continue
    if (x.auth.caller.kind === 'anonymous') throw new AppError(400, 'InvalidRequest', 'Request specific response headers cannot be used for anonymous GET requests.')
    overrides[h] = v
  }
  const checksum = x.req.header('x-amz-checksum-mode')?.toUpperCase() === 'ENABLED'
  if (headOnly) {
    const r = await x.s.headObject(x.auth.caller, bucket, key, conditions(x.req), partNumber)
    if (r.status === 304) return downloadResponse({ status: 304, info: r.info })
    const headers = objectHeaders(r.info, { checksum: checksum && !r.range, overrides })
    if (!r.range) return new Response(null, { status: 200, headers })
    headers['content-length'] = String(r.range.end - r.range.start + 1)
    headers['content-range'] = `bytes ${r.range.start}-${r.range.end}/${r.info.size}`
    return new Response(null, { status: 206, headers })
  }
  const d = await x.s.getObject(x.auth.caller, bucket, key, { range: x.req.header('range'), partNumber, conditions: conditions(x.req) })
  return downloadResponse(d, { checksum, overrides, outgoing: x.req.outgoing, extraHeaders: x.req.responseHeaders })
}

export async function deleteObject(x: S3Ctx, bucket: string, key: string): Promise<Response> {
  await x.s.deleteObject(x.auth.caller, bucket, key)
  return new Response(null, { status: 204 })
}

/** POST /bucket?delete — no Content-MD5 required; declared digests are still checked. */
export async function deleteObjects(x: S3Ctx, bucket: string): Promise<Response> {
  x.s.bucket(x.auth.caller, bucket)
  const doc = parseXml(await readSmallBody(x.req, x.auth.sig), 'Delete')
  const objects = (doc.Object as Array<{ Key?: unknown; VersionId?: unknown }> | undefined) ?? []
  if (objects.length > 1000) throw new AppError(400, 'MalformedXML', 'A Delete request may name at most 1000 objects.')
  const named = objects.map((o) => {
    if (typeof o?.Key !== 'string') throw new AppError(400, 'MalformedXML', 'Every <Object> needs a <Key>.')
    if (o.VersionId !== undefined && typeof o.VersionId !== 'string') throw new AppError(400, 'MalformedXML', '<VersionId> must be text.')
    return { key: o.Key, version: o.VersionId as string | undefined }
  })
  const quiet = String(doc.Quiet ?? 'false').trim().toLowerCase() === 'true'
  // Only the "null" version exists; naming another one deletes nothing.
  const results = await x.s.deleteObjects(x.auth.caller, bucket, named.filter((n) => n.version === undefined || n.version === NULL_VERSION).map((n) => n.key))
  const byKey = new Map(results.map((r) => [r.key, r]))
  const versioned = (n: { version?: string }) => (n.version !== undefined ? { VersionId: n.version } : {})
  const outcome = named.map((n) =>
    n.version !== undefined && n.version !== NULL_VERSION ? { code: 'NoSuchVersion', message: 'The specified version does not exist.' } : byKey.get(n.key)?.error,
  )
  return xmlResponse('DeleteResult', {
    Deleted: quiet ? [] : named.filter((_n, i) => !outcome[i]).map((n) => ({ Key: n.key, ...versioned(n) })),
    Error: named.flatMap((n, i) => (outcome[i] ? [{ Key: n.key, ...versioned(n), Code: outcome[i].code, Message: outcome[i].message }] : [])),
  })
}
