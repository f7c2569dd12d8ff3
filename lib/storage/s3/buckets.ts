/** S3 bucket operations: ListBuckets, Create/Delete/HeadBucket, location, versioning, ListObjects v1/v2, ListMultipartUploads. */
import { AppError } from '../../core/errors.ts'
import { quoteEtag } from '../http-object.ts'
import { MAX_KEYS } from '../listing.ts'
import { readSmallBody } from './body.ts'
import { intParam, type S3Ctx } from './request.ts'
import { requestedAcl } from './acl.ts'
import { isoDate, OWNER, parseXml, S3Error, xmlResponse } from './xml.ts'
import { uriEncode } from './sigv4.ts'
import type { ObjectInfo } from '../types.ts'

/** ListBuckets, paged by max-buckets and continuation-token (the last name, base64url), filtered by prefix. */
export function listBuckets(x: S3Ctx): Response {
  const q = x.req.query
  const prefix = q.get('prefix') ?? ''
  const max = intParam(x.req, 'max-buckets', 10000, 1, 10000)
  const token = q.get('continuation-token')
  let after: string | undefined
  if (token !== undefined) {
    after = Buffer.from(token, 'base64url').toString('utf8')
    if (!token || Buffer.from(after, 'utf8').toString('base64url') !== token) throw new AppError(400, 'InvalidArgument', 'The continuation token provided is incorrect')
  }
  const region = q.get('bucket-region')
  const all = x.s.listBuckets(x.auth.caller).filter((b) => b.name.startsWith(prefix) && (after === undefined || b.name > after) && (!region || region === x.s.region))
  const page = all.slice(0, max)
  const more = all.length > max
  return xmlResponse('ListAllMyBucketsResult', {
    Owner: OWNER,
    Buckets: { Bucket: page.map((b) => ({ Name: b.name, CreationDate: isoDate(b.createdAt), BucketRegion: x.s.region })) },
    ...(more ? { ContinuationToken: Buffer.from(page.at(-1)!.name, 'utf8').toString('base64url') } : {}),
    ...(q.has('prefix') ? { Prefix: prefix } : {}),
  })
}

/** CreateBucket: a LocationConstraint must name this server's region; x-amz-acl private or public-read. */
export async function createBucket(x: S3Ctx, bucket: string): Promise<Response> {
  const acl = requestedAcl(x.req)
  const body = await readSmallBody(x.req, x.auth.sig, 64 * 1024)
  if (body.length) {
    const cfg = parseXml(body, 'CreateBucketConfiguration')
    const where = cfg.LocationConstraint === undefined ? '' : String(cfg.LocationConstraint).trim()
    if (where && where !== x.s.region)
      throw new S3Error(400, 'IllegalLocationConstraintException', `The ${where} location constraint is incompatible for the region specific endpoint this request was sent to (${x.s.region}).`, { LocationConstraint: where })
  }
  await x.s.createBucket(x.auth.caller, bucket, { acl })
  return new Response(null, { status: 200, headers: { Location: `/${bucket}` } })
}

export async function deleteBucket(x: S3Ctx, bucket: string): Promise<Response> {
  await x.s.deleteBucket(x.auth.caller, bucket)
  return new Response(null, { status: 204 })
}

export function headBucket(x: S3Ctx, bucket: string): Response {
  x.s.bucket(x.auth.caller, bucket)
  return new Response(null, { status: 200, headers: { 'x-amz-bucket-region': x.s.region } })
}

export function bucketLocation(x: S3Ctx, bucket: string): Response {
  x.s.bucket(x.auth.caller, bucket)
  // compat(s3): us-east-1 is reported as an empty LocationConstraint.
  return xmlResponse('LocationConstraint', { '#text': x.s.region === 'us-east-1' ? '' : x.s.region })
}

export function bucketVersioning(x: S3Ctx, bucket: string): Response {
  x.s.bucket(x.auth.caller, bucket)
  return xmlResponse('VersioningConfiguration', {})
}

function contents(info: ObjectInfo, enc: (s: string) => string, owner: boolean) {
  return {
    Key: enc(info.key),
    LastModified: isoDate(info.lastModified),
    ETag: quoteEtag(info.etag),
    ...(info.checksum ? { ChecksumAlgorithm: info.checksum.algorithm, ChecksumType: info.checksum.type } : {}),
    Size: info.size,
    StorageClass: 'STANDARD',
    ...(owner ? { Owner: OWNER } : {}),
  }
}

/** ListObjects (v1, marker) and ListObjectsV2 (continuation-token, start-after). */
export async function listObjects(x: S3Ctx, bucket: string): Promise<Response> {
  const q = x.req.query
  const v2 = q.get('list-type') === '2'
  if (q.has('list-type') && !v2) throw new AppError(400, 'InvalidArgument', 'list-type must be 2')
  const encoding = q.get('encoding-type')
  if (encoding !== undefined && encoding !== 'url') throw new AppError(400, 'InvalidArgument', 'Invalid Encoding Method specified in Request')
  const enc = encoding === 'url' ? (s: string) => uriEncode(s, true) : (s: string) => s
  const prefix = q.get('prefix') ?? ''
  const delimiter = q.get('delimiter') || undefined
  const maxKeys = intParam(x.req, 'max-keys', MAX_KEYS, 0)
  let after: string | undefined
  const token = q.get('continuation-token')
  if (v2 && token !== undefined) {
    after = Buffer.from(token, 'base64url').toString('utf8')
    if (!token || Buffer.from(after, 'utf8').toString('base64url') !== token) throw new AppError(400, 'InvalidArgument', 'The continuation token provided is incorrect')
  } else if (v2) after = q.get('start-after') || undefined
  else after = q.get('marker') || undefined

  const page = await x.s.listObjects(x.auth.caller, bucket, { prefix, delimiter, after, maxKeys })
  const common = page.commonPrefixes.map((p) => ({ Prefix: enc(p) }))
  const items = page.objects.map((o) => contents(o, enc, !v2 || q.get('fetch-owner') === 'true'))
  const base: Record<string, unknown> = { Name: bucket, Prefix: enc(prefix) }
  if (v2) {
    Object.assign(base, {
      ...(token !== undefined ? { ContinuationToken: token } : {}),
      ...(q.get('start-after') ? { StartAfter: enc(q.get('start-after')!) } : {}),
      KeyCount: items.length + common.length,
      MaxKeys: maxKeys,
      ...(delimiter ? { Delimiter: enc(delimiter) } : {}),
      IsTruncated: page.truncated,
      ...(page.truncated && page.last !== undefined ? { NextContinuationToken: Buffer.from(page.last, 'utf8').toString('base64url') } : {}),
    })
  } else {
    Object.assign(base, {
      Marker: enc(q.get('marker') ?? ''),
      MaxKeys: maxKeys,
      ...(delimiter ? { Delimiter: enc(delimiter) } : {}),
      IsTruncated: page.truncated,
      // compat(s3): v1 names NextMarker only when a delimiter is used; clients fall back to the last key.
      ...(page.truncated && delimiter && page.last !== undefined ? { NextMarker: enc(page.last) } : {}),
    })
  }
  return xmlResponse('ListBucketResult', { ...base, Contents: items, CommonPrefixes: common, ...(encoding ? { EncodingType: 'url' } : {}) })
}

export async function listUploads(x: S3Ctx, bucket: string): Promise<Response> {
  const q = x.req.query
  const max = intParam(x.req, 'max-uploads', 1000, 0, 1000)
  const r = await x.s.multipart.listUploads(x.auth.caller, bucket, { prefix: q.get('prefix'), keyMarker: q.get('key-marker'), uploadIdMarker: q.get('upload-id-marker'), max })
  const last = r.uploads.at(-1)
  return xmlResponse('ListMultipartUploadsResult', {
    Bucket: bucket,
    KeyMarker: q.get('key-marker') ?? '',
    UploadIdMarker: q.get('upload-id-marker') ?? '',
    NextKeyMarker: r.truncated && last ? last.key : '',
    NextUploadIdMarker: r.truncated && last ? last.id : '',
    Prefix: q.get('prefix') ?? '',
    MaxUploads: max,
    IsTruncated: r.truncated,
    Upload: r.uploads.map((u) => ({
      Key: u.key,
      UploadId: u.id,
      Initiator: OWNER,
      Owner: OWNER,
      StorageClass: 'STANDARD',
      Initiated: isoDate(u.createdAt),
      ...(u.checksumAlgorithm ? { ChecksumAlgorithm: u.checksumAlgorithm, ChecksumType: u.checksumType } : {}),
    })),
  })
}
