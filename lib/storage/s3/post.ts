/**
 * POST Object: browser form uploads (multipart/form-data, parsed with busboy)
 * signed with a SigV4 POST policy. Fields come before the file; the file
 * streams to storage as it arrives, held to the policy's content-length-range.
 */
import busboy from 'busboy'
import { Readable } from 'node:stream'
import { AppError } from '../../core/errors.ts'
import { cannedAcl } from '../acl.ts'
import { ALGORITHMS, headerOf } from '../bytes/checksums.ts'
import { quoteEtag } from '../http-object.ts'
import { STORED_HEADERS, type Declared } from '../types.ts'
import { verifyPostPolicy, type FormFields, type Policy } from './post-policy.ts'
import type { S3Ctx } from './request.ts'
import { uriEncode } from './sigv4.ts'
import { parseTagging } from './tagging.ts'
import { xmlResponse } from './xml.ts'

type FilePart = { stream: Readable; filename: string }

/** Reads fields up to the first "file" part; resolves with them and that part's stream (null when there is none). */
function readForm(x: S3Ctx): Promise<{ fields: FormFields; file: FilePart | null }> {
  const contentType = x.req.header('content-type') ?? ''
  if (!/^multipart\/form-data/i.test(contentType)) throw new AppError(400, 'InvalidArgument', 'POST requires a multipart/form-data body')
  let bb: busboy.Busboy
  try {
    bb = busboy({ headers: { 'content-type': contentType }, limits: { files: 1, fields: 200, fieldSize: 64 * 1024, parts: 201 } })
  } catch {
    throw new AppError(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.')
  }
  const fields: FormFields = new Map()
  return new Promise((resolve, reject) => {
    let done = false
    const settle = (v: { fields: FormFields; file: FilePart | null } | Error) => {
      if (done) return
      done = true
      if (v instanceof Error) reject(v)
      else resolve(v)
    }
    bb.on('field', (name, val, info) => {
      if (done) return // fields after the file are ignored, as on S3
      if (info.valueTruncated) return settle(new AppError(400, 'MaxPostPreDataLengthExceeded', 'Your POST request fields preceding the upload file were too large.'))
      const k = name.toLowerCase()
      if (!fields.has(k)) fields.set(k, val)
    })
    bb.on('file', (name, stream, info) => {
      if (done || name.toLowerCase() !== 'file') return void stream.resume()
      settle({ fields, file: { stream, filename: info.filename ?? '' } })
    })
    bb.on('close', () => settle({ fields, file: null }))
    bb.on('error', () => settle(new AppError(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.')))
    Readable.from(x.req.body()).on('error', (e) => bb.destroy(e)).pipe(bb)
  })
}

/** The file's bytes, refused past the policy's maximum as they arrive and below its minimum at the end. */
async function* withinRange(stream: Readable, range: Policy['lengthRange']): AsyncGenerator<Uint8Array> {
  let n = 0
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    n += chunk.length
    if (range && n > range.max) throw new AppError(400, 'EntityTooLarge', `Your proposed upload exceeds the maximum allowed size (${range.max} bytes).`)
    yield chunk
  }
  if (range && n < range.min) throw new AppError(400, 'EntityTooSmall', `Your proposed upload is smaller than the minimum allowed size (${range.min} bytes).`)
}

export async function postObject(x: S3Ctx, bucket: string): Promise<Response> {
  const { fields, file } = await readForm(x)
  const { owner, policy } = verifyPostPolicy(fields, bucket, x.s.secretsFor, Date.now())
  if (!file) throw new AppError(400, 'InvalidArgument', 'POST requires exactly one file upload per request.')
  const rawKey = fields.get('key')
  if (!rawKey) {
    file.stream.resume()
    throw new AppError(400, 'InvalidArgument', "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
  }
  const key = rawKey.replaceAll('${filename}', file.filename)
  const acl = fields.get('acl')
  if (acl !== undefined) x.s.acceptObjectAcl(owner, bucket, cannedAcl(acl))
  const meta: Record<string, string> = {}
  const headers: Record<string, string> = {}
  for (const [k, v] of fields) {
    if (k.startsWith('x-amz-meta-')) meta[k.slice('x-amz-meta-'.length)] = v
    else if ((STORED_HEADERS as readonly string[]).includes(k)) headers[k] = v
  }
  const alg = ALGORITHMS.find((a) => fields.has(headerOf(a)))
  const declared: Declared = alg ? { checksum: { algorithm: alg, value: () => fields.get(headerOf(alg)) } } : {}
  const tagging = fields.get('tagging')
  const tags = tagging ? parseTagging(tagging) : undefined
  const info = await x.s.putObject(owner, bucket, key, withinRange(file.stream, policy.lengthRange), { declared, contentType: fields.get('content-type') || undefined, meta, headers, tags })

  const location = `${x.baseUrl}/${bucket}/${uriEncode(key, true)}`
  const etag = quoteEtag(info.etag)
  const redirect = fields.get('success_action_redirect') ?? fields.get('redirect')
  if (redirect && URL.canParse(redirect)) {
    const u = new URL(redirect)
    u.searchParams.set('bucket', bucket)
    u.searchParams.set('key', key)
    u.searchParams.set('etag', etag)
    return new Response(null, { status: 303, headers: { Location: u.toString(), ETag: etag } })
  }
  const status = fields.get('success_action_status')
  if (status === '201') return xmlResponse('PostResponse', { Location: location, Bucket: bucket, Key: key, ETag: etag }, { status: 201, headers: { ETag: etag, Location: location } })
  return new Response(null, { status: status === '200' ? 200 : 204, headers: { ETag: etag, Location: location } })
}
