/** S3 object tagging on the wire: Get/Put/Delete ObjectTagging, x-amz-tagging on writes, the Tagging document. */
import { AppError } from '../../core/errors.ts'
import type { StorageRequest } from '../http-request.ts'
import { checkTags, parseTaggingHeader, type Tags } from '../tags.ts'
import { readSmallBody } from './body.ts'
import type { S3Ctx } from './request.ts'
import { parseXml, xmlResponse } from './xml.ts'

/** x-amz-tagging of a PUT, POST upload or CreateMultipartUpload; undefined when absent. */
export const requestTags = (req: StorageRequest): Tags | undefined => {
  const v = req.header('x-amz-tagging')
  return v === undefined ? undefined : parseTaggingHeader(v)
}

/** CopyObject: the source's tags (COPY, the default) or the request's (REPLACE). */
export function copyTags(req: StorageRequest): Tags | undefined {
  const directive = (req.header('x-amz-tagging-directive') ?? 'COPY').toUpperCase()
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new AppError(400, 'InvalidArgument', 'Unknown tagging directive.')
  return directive === 'REPLACE' ? (requestTags(req) ?? []) : undefined
}

/** A <Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging> document (PutObjectTagging, the POST "tagging" field). */
export function parseTagging(doc: Buffer | string): Tags {
  const root = parseXml(Buffer.from(doc), 'Tagging')
  const set = root.TagSet as { Tag?: Array<{ Key?: unknown; Value?: unknown }> } | string | undefined
  const tags = (typeof set === 'object' ? (set.Tag ?? []) : []).map((t): [string, string] => {
    if (typeof t?.Key !== 'string') throw new AppError(400, 'MalformedXML', 'Every <Tag> needs a <Key>.')
    return [t.Key, typeof t.Value === 'string' ? t.Value : '']
  })
  return checkTags(tags)
}

const taggingDoc = (tags: Tags) => ({ TagSet: { Tag: tags.map(([Key, Value]) => ({ Key, Value })) } })

export async function getObjectTagging(x: S3Ctx, bucket: string, key: string): Promise<Response> {
  const { info } = await x.s.headObject(x.auth.caller, bucket, key)
  return xmlResponse('Tagging', taggingDoc(info.tags))
}

export async function putObjectTagging(x: S3Ctx, bucket: string, key: string): Promise<Response> {
  const tags = parseTagging(await readSmallBody(x.req, x.auth.sig, 64 * 1024))
  await x.s.setObjectTags(x.auth.caller, bucket, key, tags)
  return new Response(null, { status: 200 })
}

export async function deleteObjectTagging(x: S3Ctx, bucket: string, key: string): Promise<Response> {
  await x.s.setObjectTags(x.auth.caller, bucket, key, [])
  return new Response(null, { status: 204 })
}

/** GetBucketTagging: nestbox buckets carry no tags. */
export function getBucketTagging(x: S3Ctx, bucket: string): Response {
  x.s.bucket(x.auth.caller, bucket)
  throw new AppError(404, 'NoSuchTagSet', 'The TagSet does not exist')
}
