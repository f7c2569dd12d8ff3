/**
 * The body of an S3 write, as the client framed it: plain, aws-chunked (signed
 * chunks, unsigned with trailers, or signed with a signed trailer), with a
 * signed SHA-256, Content-MD5 and x-amz-checksum-* (header or trailer) — all of
 * which are verified while the bytes stream to disk.
 */
import { createHash } from 'node:crypto'
import { AppError } from '../../core/errors.ts'
import { ALGORITHMS, contentMd5Mismatch, digester, headerOf, isAlgorithm, sha256Mismatch, type Algorithm } from '../bytes/checksums.ts'
import { decodeAwsChunked } from './chunked.ts'
import type { StorageRequest } from '../http-request.ts'
import type { Verified } from './sigv4.ts'
import type { Declared, StorageCaller } from '../types.ts'

async function* verifySha256(source: AsyncIterable<Uint8Array>, expected: string): AsyncGenerator<Uint8Array> {
  const h = createHash('sha256')
  for await (const chunk of source) {
    h.update(chunk)
    yield chunk
  }
  if (h.digest('hex') !== expected.toLowerCase()) throw sha256Mismatch()
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/

function intHeader(req: StorageRequest, name: string): number | undefined {
  const v = req.header(name)
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v.trim())) throw new AppError(400, 'InvalidArgument', `${name} must be a non-negative integer`)
  return Number(v)
}

export function s3Body(req: StorageRequest, sig: Verified<StorageCaller> | undefined): { body: AsyncIterable<Uint8Array>; declared: Declared } {
  const mode = sig?.payloadHash ?? req.header('x-amz-content-sha256') ?? 'UNSIGNED-PAYLOAD'
  const trailerNames = (req.header('x-amz-trailer') ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
  let trailers: Record<string, string> = {}
  let body: AsyncIterable<Uint8Array> = req.body()
  let contentLength = intHeader(req, 'content-length')

  if (mode.startsWith('STREAMING-')) {
    const signed = mode === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' || mode === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
    const trailer = mode.endsWith('-TRAILER')
    if (!signed && mode !== 'STREAMING-UNSIGNED-PAYLOAD-TRAILER') throw new AppError(501, 'NotImplemented', `x-amz-content-sha256 mode ${mode} is not supported`)
    if (signed && (!sig || sig.presigned)) throw new AppError(400, 'InvalidRequest', `${mode} needs header (not query) SigV4 authentication`)
    contentLength = intHeader(req, 'x-amz-decoded-content-length')
    if (contentLength === undefined) throw new AppError(411, 'MissingContentLength', 'aws-chunked uploads must send x-amz-decoded-content-length')
    body = decodeAwsChunked(body, {
      signing: signed ? { signingKey: sig!.signingKey, amzDate: sig!.amzDate, scope: sig!.scope, seedSignature: sig!.signature } : undefined,
      trailer,
      onTrailers: (t) => (trailers = t),
    })
  } else if (SHA256_HEX.test(mode)) {
    body = verifySha256(body, mode)
  } else if (mode !== 'UNSIGNED-PAYLOAD') {
    throw new AppError(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... or a SHA-256 hex digest')
  }

  let checksum: Declared['checksum']
  const inHeader = ALGORITHMS.find((a) => req.header(headerOf(a)) !== undefined)
  const inTrailer = ALGORITHMS.find((a) => trailerNames.includes(headerOf(a)))
  const sdkAlg = req.header('x-amz-sdk-checksum-algorithm')?.toUpperCase()
  if (inHeader) {
    const v = req.header(headerOf(inHeader))!
    checksum = { algorithm: inHeader, value: () => v }
  } else if (inTrailer) {
    checksum = {
      algorithm: inTrailer,
      value: () => {
        const v = trailers[headerOf(inTrailer)]
        if (v === undefined) throw new AppError(400, 'InvalidRequest', `The ${headerOf(inTrailer)} trailer announced in x-amz-trailer was not sent`)
        return v
      },
    }
  } else if (sdkAlg) {
    if (!isAlgorithm(sdkAlg)) throw new AppError(400, 'InvalidRequest', `Unsupported checksum algorithm ${sdkAlg}`)
    checksum = { algorithm: sdkAlg as Algorithm, value: () => undefined }
  }
  // A plain body of known length may be taken off the connection: the receive addon then computes its digests as it writes it.
  const plain = mode === 'UNSIGNED-PAYLOAD' || SHA256_HEX.test(mode)
  const direct = plain && !checksum && contentLength !== undefined ? { take: req.takeBody, sha256: SHA256_HEX.test(mode) ? mode.toLowerCase() : undefined } : undefined
  return { body, declared: { contentLength, contentMd5: req.header('content-md5'), checksum, direct } }
}

/** Reads a small S3 request body (XML documents) through the same verification, capped at `limit` bytes. */
export async function readSmallBody(req: StorageRequest, sig: Verified<StorageCaller> | undefined, limit = 2 * 1024 * 1024): Promise<Buffer> {
  const { body, declared } = s3Body(req, sig)
  const chunks: Uint8Array[] = []
  let n = 0
  for await (const c of body) {
    n += c.length
    if (n > limit) throw new AppError(400, 'MaxMessageLengthExceeded', 'Your request was too big.')
    chunks.push(c)
  }
  const buf = Buffer.concat(chunks)
  if (declared.contentMd5 !== undefined && createHash('md5').update(buf).digest('base64') !== declared.contentMd5) throw contentMd5Mismatch()
  if (declared.checksum) {
    const d = digester(declared.checksum.algorithm)
    d.update(buf)
    const expected = declared.checksum.value()
    if (expected !== undefined && expected !== (await d.digest())) throw new AppError(400, 'BadDigest', `The ${declared.checksum.algorithm} you specified did not match the calculated checksum.`)
  }
  return buf
}
