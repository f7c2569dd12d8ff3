/**
 * Versioning as S3 answers it for a bucket where it was never enabled: every
 * object is its own only version, with version id "null". Tools that empty or
 * sync buckets through ListObjectVersions and versionId=null work unchanged.
 */
import { AppError } from '../../core/errors.ts'
import { quoteEtag } from '../http-object.ts'
import { MAX_KEYS } from '../listing.ts'
import { intParam, type S3Ctx } from './request.ts'
import { uriEncode } from './sigv4.ts'
import { isoDate, OWNER, xmlResponse } from './xml.ts'

export const NULL_VERSION = 'null'

/** A version id from a query or document: only "null" names a version here. */
export function checkVersionId(v: string | undefined): void {
  if (v !== undefined && v !== NULL_VERSION) throw new AppError(400, 'InvalidArgument', `Invalid version id specified: ${v}`)
}

/** GET /bucket?versions: ListObjectVersions with key and version-id markers. */
export async function listVersions(x: S3Ctx, bucket: string): Promise<Response> {
  const q = x.req.query
  const encoding = q.get('encoding-type')
  if (encoding !== undefined && encoding !== 'url') throw new AppError(400, 'InvalidArgument', 'Invalid Encoding Method specified in Request')
  const enc = encoding === 'url' ? (s: string) => uriEncode(s, true) : (s: string) => s
  const prefix = q.get('prefix') ?? ''
  const delimiter = q.get('delimiter') || undefined
  const maxKeys = intParam(x.req, 'max-keys', MAX_KEYS, 0)
  const keyMarker = q.get('key-marker') ?? ''
  const versionMarker = q.get('version-id-marker') ?? ''
  if (versionMarker && !keyMarker) throw new AppError(400, 'InvalidArgument', 'A version-id marker cannot be specified without a key marker.')
  if (versionMarker) checkVersionId(versionMarker)
  // One version per key: resuming after (key, "null") is resuming after the key.
  const page = await x.s.listObjects(x.auth.caller, bucket, { prefix, delimiter, after: keyMarker || undefined, maxKeys })
  const lastIsObject = page.last !== undefined && page.objects.at(-1)?.key === page.last
  return xmlResponse('ListVersionsResult', {
    Name: bucket,
    Prefix: enc(prefix),
    KeyMarker: enc(keyMarker),
    VersionIdMarker: versionMarker,
    ...(page.truncated && page.last !== undefined ? { NextKeyMarker: enc(page.last), ...(lastIsObject ? { NextVersionIdMarker: NULL_VERSION } : {}) } : {}),
    MaxKeys: maxKeys,
    ...(delimiter ? { Delimiter: enc(delimiter) } : {}),
    IsTruncated: page.truncated,
    Version: page.objects.map((o) => ({
      Key: enc(o.key),
      VersionId: NULL_VERSION,
      IsLatest: true,
      LastModified: isoDate(o.lastModified),
      ETag: quoteEtag(o.etag),
      ...(o.checksum ? { ChecksumAlgorithm: o.checksum.algorithm, ChecksumType: o.checksum.type } : {}),
      Size: o.size,
      StorageClass: 'STANDARD',
      Owner: OWNER,
    })),
    CommonPrefixes: page.commonPrefixes.map((p) => ({ Prefix: enc(p) })),
    ...(encoding ? { EncodingType: 'url' } : {}),
  })
}
