/**
 * The S3 API: path-style (/storage/<bucket>/<key>, or /<bucket>/<key> on the
 * dedicated listener) and virtual-hosted style (<bucket>.<domain>). Picks the
 * operation from method, path and subresource query, like S3 does.
 */
import { AppError } from '../../core/errors.ts'
import { bucketLocation, bucketVersioning, createBucket, deleteBucket, headBucket, listBuckets, listObjects, listUploads } from './buckets.ts'
import { abortUpload, completeUpload, createUpload, listParts, uploadPart } from './multipart.ts'
import { deleteObject, deleteObjects, getObject, putObject } from './objects.ts'
import { getBucketAcl, getObjectAcl, putBucketAcl, putObjectAcl } from './acl.ts'
import { getObjectAttributes } from './attributes.ts'
import { postObject } from './post.ts'
import type { S3Ctx } from './request.ts'
import { deleteObjectTagging, getBucketTagging, getObjectTagging, putObjectTagging } from './tagging.ts'
import { checkVersionId, listVersions, NULL_VERSION } from './versions.ts'

/** Subresources nestbox does not implement: answered 501 NotImplemented rather than misread as plain requests. */
const UNSUPPORTED = [
  'policy', 'cors', 'lifecycle', 'website', 'logging', 'notification', 'replication', 'encryption', 'object-lock',
  'retention', 'legal-hold', 'accelerate', 'requestPayment', 'ownershipControls', 'publicAccessBlock', 'intelligent-tiering',
  'inventory', 'metrics', 'analytics', 'policyStatus', 'restore', 'select', 'torrent', 'website',
]

const methodNotAllowed = () => new AppError(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.')

export async function handleS3(x: S3Ctx): Promise<Response> {
  const { req } = x
  const m = req.method
  const q = req.query
  const unsupported = UNSUPPORTED.find((s) => q.has(s))
  if (unsupported) throw new AppError(501, 'NotImplemented', `The ${unsupported} subresource is not implemented.`)
  if (!req.bucket) {
    if (m === 'GET' || m === 'HEAD') return listBuckets(x)
    throw methodNotAllowed()
  }
  const bucket = req.bucket
  const key = req.key ?? ''
  const uploadId = q.get('uploadId')
  if (!key) {
    if (q.has('attributes')) throw methodNotAllowed()
    if (q.has('tagging')) {
      if (m === 'GET') return getBucketTagging(x, bucket)
      throw new AppError(501, 'NotImplemented', 'Bucket tagging is not supported.')
    }
    switch (m) {
      case 'GET':
        if (q.has('acl')) return getBucketAcl(x, bucket)
        if (q.has('location')) return bucketLocation(x, bucket)
        if (q.has('versioning')) return bucketVersioning(x, bucket)
        if (q.has('uploads')) return listUploads(x, bucket)
        if (q.has('versions')) return listVersions(x, bucket)
        return listObjects(x, bucket)
      case 'HEAD':
        return headBucket(x, bucket)
      case 'PUT':
        if (q.has('acl')) return putBucketAcl(x, bucket)
        if (q.has('versioning')) throw new AppError(501, 'NotImplemented', 'Versioning is not supported.')
        return createBucket(x, bucket)
      case 'DELETE':
        return deleteBucket(x, bucket)
      case 'POST':
        if (q.has('delete')) return deleteObjects(x, bucket)
        return postObject(x, bucket)
      default:
        throw methodNotAllowed()
    }
  }
  // Only the "null" version exists (versioning never enabled); it is the object itself.
  const versionId = q.get('versionId')
  checkVersionId(versionId)
  switch (m) {
    case 'PUT':
      if (q.has('acl')) return putObjectAcl(x, bucket, key)
      if (q.has('tagging')) return putObjectTagging(x, bucket, key)
      return uploadId !== undefined ? uploadPart(x, bucket, key, uploadId) : putObject(x, bucket, key)
    case 'GET':
      if (q.has('acl')) return getObjectAcl(x, bucket, key)
      if (q.has('tagging')) return getObjectTagging(x, bucket, key)
      if (q.has('attributes')) return getObjectAttributes(x, bucket, key)
      return uploadId !== undefined ? listParts(x, bucket, key, uploadId) : getObject(x, bucket, key, false)
    case 'HEAD':
      return getObject(x, bucket, key, true)
    case 'DELETE': {
      if (uploadId !== undefined) return abortUpload(x, bucket, key, uploadId)
      if (q.has('tagging')) return deleteObjectTagging(x, bucket, key)
      const res = await deleteObject(x, bucket, key)
      if (versionId !== undefined) res.headers.set('x-amz-version-id', NULL_VERSION)
      return res
    }
    case 'POST':
      if (q.has('uploads')) return createUpload(x, bucket, key)
      if (uploadId !== undefined) return completeUpload(x, bucket, key, uploadId)
      throw methodNotAllowed()
    default:
      throw methodNotAllowed()
  }
}
