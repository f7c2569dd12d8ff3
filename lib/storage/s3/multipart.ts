/** S3 multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts. */
import { AppError } from '../../core/errors.ts'
import { ALGORITHMS, headerOf, isAlgorithm, xmlNameOf, type Algorithm } from '../bytes/checksums.ts'
import { quoteEtag } from '../http-object.ts'
import type { CompletePart } from '../multipart.ts'
import { readSmallBody, s3Body } from './body.ts'
import { conditions, copySource, intParam, storedHeaders, userMeta, type S3Ctx } from './request.ts'
import { isoDate, parseXml, xmlResponse } from './xml.ts'
import { uriEncode } from './sigv4.ts'
import type { ChecksumType } from '../types.ts'
import { acceptWriteAcl } from './acl.ts'
import { requestTags } from './tagging.ts'

export async function createUpload(x: S3Ctx, bucket: string, key: string): Promise<Response> {
  acceptWriteAcl(x, bucket)
  const alg = x.req.header('x-amz-checksum-algorithm')?.toUpperCase()
  if (alg !== undefined && !isAlgorithm(alg)) throw new AppError(400, 'InvalidRequest', `Unsupported checksum algorithm ${alg}`)
  const type = x.req.header('x-amz-checksum-type')?.toUpperCase()
  if (type !== undefined && type !== 'FULL_OBJECT' && type !== 'COMPOSITE') throw new AppError(400, 'InvalidRequest', 'x-amz-checksum-type must be FULL_OBJECT or COMPOSITE')
  const u = await x.s.multipart.create(x.auth.caller, bucket, key, {
    contentType: x.req.header('content-type') || undefined,
    meta: userMeta(x.req),
    headers: storedHeaders(x.req),
    checksumAlgorithm: alg as Algorithm | undefined,
    checksumType: type as ChecksumType | undefined,
    tags: requestTags(x.req),
  })
  const headers: Record<string, string> = u.checksumAlgorithm ? { 'x-amz-checksum-algorithm': u.checksumAlgorithm, 'x-amz-checksum-type': u.checksumType! } : {}
  return xmlResponse('InitiateMultipartUploadResult', { Bucket: bucket, Key: key, UploadId: u.id }, { headers })
}

export async function uploadPart(x: S3Ctx, bucket: string, key: string, uploadId: string): Promise<Response> {
  const partNumber = intParam(x.req, 'partNumber', 0, 1, 10000)
  const src = copySource(x.req)
  if (src) {
    const p = await x.s.multipart.uploadPartCopy(x.auth.caller, bucket, key, uploadId, partNumber, {
      ...src,
      range: x.req.header('x-amz-copy-source-range'),
      conditions: conditions(x.req, 'x-amz-copy-source-'),
    })
    return xmlResponse('CopyPartResult', { ETag: quoteEtag(p.etag), LastModified: isoDate(p.lastModified) })
  }
  const { body, declared } = s3Body(x.req, x.auth.sig)
  const p = await x.s.multipart.uploadPart(x.auth.caller, bucket, key, uploadId, partNumber, body, declared)
  const headers: Record<string, string> = { ETag: quoteEtag(p.etag) }
  if (p.checksumAlgorithm && p.checksum) headers[headerOf(p.checksumAlgorithm)] = p.checksum
  return new Response(null, { status: 200, headers })
}

export async function completeUpload(x: S3Ctx, bucket: string, key: string, uploadId: string): Promise<Response> {
  const doc = parseXml(await readSmallBody(x.req, x.auth.sig), 'CompleteMultipartUpload')
  const parts: CompletePart[] = ((doc.Part as Array<Record<string, unknown>> | undefined) ?? []).map((p) => {
    const n = Number(p.PartNumber)
    if (typeof p.ETag !== 'string' || !Number.isInteger(n)) throw new AppError(400, 'MalformedXML', 'Every <Part> needs a <PartNumber> and an <ETag>.')
    const checksums: CompletePart['checksums'] = {}
    for (const a of ALGORITHMS) if (typeof p[xmlNameOf(a)] === 'string') checksums[a] = p[xmlNameOf(a)] as string
    return { partNumber: n, etag: p.ETag, checksums }
  })
  const fullAlg = ALGORITHMS.find((a) => x.req.header(headerOf(a)) !== undefined)
  const info = await x.s.multipart.complete(x.auth.caller, bucket, key, uploadId, parts, {
    conditions: conditions(x.req),
    fullObjectChecksum: fullAlg && x.req.header('x-amz-checksum-type')?.toUpperCase() === 'FULL_OBJECT' ? { algorithm: fullAlg, value: x.req.header(headerOf(fullAlg))! } : undefined,
  })
  const body: Record<string, unknown> = { Location: `${x.baseUrl}/${bucket}/${uriEncode(key, true)}`, Bucket: bucket, Key: key, ETag: quoteEtag(info.etag) }
  if (info.checksum) {
    body[xmlNameOf(info.checksum.algorithm)] = info.checksum.value
    body.ChecksumType = info.checksum.type
  }
  return xmlResponse('CompleteMultipartUploadResult', body)
}

export async function abortUpload(x: S3Ctx, bucket: string, key: string, uploadId: string): Promise<Response> {
  await x.s.multipart.abort(x.auth.caller, bucket, key, uploadId)
  return new Response(null, { status: 204 })
}

export async function listParts(x: S3Ctx, bucket: string, key: string, uploadId: string): Promise<Response> {
  const max = intParam(x.req, 'max-parts', 1000, 0, 1000)
  const marker = intParam(x.req, 'part-number-marker', 0, 0, 10000)
  const r = await x.s.multipart.listParts(x.auth.caller, bucket, key, uploadId, { after: marker, max })
  const alg = r.upload.checksumAlgorithm
  return xmlResponse('ListPartsResult', {
    Bucket: bucket,
    Key: key,
    UploadId: uploadId,
    PartNumberMarker: marker,
    NextPartNumberMarker: r.parts.at(-1)?.partNumber ?? marker,
    MaxParts: max,
    IsTruncated: r.truncated,
    Part: r.parts.map((p) => ({
      PartNumber: p.partNumber,
      LastModified: isoDate(p.lastModified),
      ETag: quoteEtag(p.etag),
      Size: p.size,
      ...(alg && p.checksum ? { [xmlNameOf(alg)]: p.checksum } : {}),
    })),
    Initiator: { ID: 'nestbox', DisplayName: 'nestbox' },
    Owner: { ID: 'nestbox', DisplayName: 'nestbox' },
    StorageClass: 'STANDARD',
    ...(alg ? { ChecksumAlgorithm: alg, ChecksumType: r.upload.checksumType } : {}),
  })
}
