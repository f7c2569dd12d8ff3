/**
 * aws-chunked request bodies (Content-Encoding: aws-chunked), decoded as they
 * stream. Each chunk is "<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n"; a
 * zero-size chunk ends the data and may be followed by trailer headers
 * ("x-amz-checksum-crc32:<b64>") and, when signed, "x-amz-trailer-signature".
 * Signed modes chain each chunk's signature from the previous one (the seed is
 * the request's own signature), so a reordered, altered or truncated body fails.
 */
import { createHash } from 'node:crypto'
import { AppError } from '../../core/errors.ts'
import { EMPTY_SHA256, hexHmac, sameSignature } from './sigv4.ts'
import type { ByteSource } from '../types.ts'

export type ChunkSigning = { signingKey: Buffer; amzDate: string; scope: string; seedSignature: string }

export type ChunkedOptions = {
  /** Present for STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]: every chunk signature is verified. */
  signing?: ChunkSigning
  /** Trailer headers are expected after the final chunk (…-TRAILER modes). */
  trailer: boolean
  /** Receives the trailer headers (lowercase names), after their signature checked out. */
  onTrailers?: (t: Record<string, string>) => void
}

const MAX_LINE = 4096
const bad = (m: string) => new AppError(400, 'IncompleteBody', m)
const badSig = () => new AppError(403, 'SignatureDoesNotMatch', 'A chunk signature of the aws-chunked body does not match.')

export async function* decodeAwsChunked(source: ByteSource, o: ChunkedOptions): AsyncGenerator<Uint8Array> {
  const it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]()
  let buf: Buffer = Buffer.alloc(0)
  let ended = false
  let prevSig = o.signing?.seedSignature ?? ''

  const more = async (): Promise<boolean> => {
    if (ended) return false
    const r = await it.next()
    if (r.done) {
      ended = true
      return false
    }
    buf = buf.length ? Buffer.concat([buf, r.value]) : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength)
    return true
  }

  /** Next CRLF-terminated line, or null at a clean end of input. */
  const line = async (): Promise<string | null> => {
    for (;;) {
      const i = buf.indexOf('\r\n')
      if (i >= 0) {
        const s = buf.subarray(0, i).toString('latin1')
        buf = buf.subarray(i + 2)
        return s
      }
      if (buf.length > MAX_LINE) throw bad('aws-chunked framing line too long')
      if (!(await more())) {
        if (buf.length === 0) return null
        const s = buf.toString('latin1') // tolerate a missing final CRLF
        buf = Buffer.alloc(0)
        return s
      }
    }
  }

  const verifyChunk = (dataHash: string, declared: string | undefined) => {
    if (!o.signing) return
    if (!declared) throw badSig()
    const sts = ['AWS4-HMAC-SHA256-PAYLOAD', o.signing.amzDate, o.signing.scope, prevSig, EMPTY_SHA256, dataHash].join('\n')
    const sig = hexHmac(o.signing.signingKey, sts)
    if (!sameSignature(sig, declared.toLowerCase())) throw badSig()
    prevSig = sig
  }

  for (;;) {
    const header = await line()
    if (header === null) throw bad('the aws-chunked body ended before its final chunk')
    const [sizeHex, ...exts] = header.split(';')
    if (!/^[0-9a-fA-F]{1,16}$/.test(sizeHex.trim())) throw bad('malformed aws-chunked chunk header')
    const size = parseInt(sizeHex.trim(), 16)
    const declared = exts.map((e) => e.split('=')).find(([k]) => k.trim() === 'chunk-signature')?.[1]?.trim()
    const hash = o.signing ? createHash('sha256') : null
    let left = size
    while (left > 0) {
      if (buf.length === 0 && !(await more())) throw bad('the aws-chunked body ended inside a chunk')
      const take = buf.subarray(0, Math.min(left, buf.length))
      buf = buf.subarray(take.length)
      left -= take.length
      hash?.update(take)
      yield take
    }
    verifyChunk(hash ? hash.digest('hex') : EMPTY_SHA256, declared)
    if (size > 0) {
      const sep = await line()
      if (sep !== '') throw bad('an aws-chunked chunk is not followed by CRLF')
      continue
    }
    // Final chunk: trailers (if any) until an empty line or the end of input.
    const trailers: Record<string, string> = {}
    let trailerSig: string | undefined
    const canonical: string[] = []
    for (;;) {
      const l = await line()
      if (l === null || l === '') break
      const i = l.indexOf(':')
      if (i < 1) throw bad('malformed trailer header in aws-chunked body')
      const name = l.slice(0, i).trim().toLowerCase()
      const value = l.slice(i + 1).trim()
      if (name === 'x-amz-trailer-signature') trailerSig = value
      else {
        trailers[name] = value
        canonical.push(`${name}:${value}\n`)
      }
    }
    if (o.signing && o.trailer) {
      if (!trailerSig) throw badSig()
      const sts = ['AWS4-HMAC-SHA256-TRAILER', o.signing.amzDate, o.signing.scope, prevSig, createHash('sha256').update(canonical.join('')).digest('hex')].join('\n')
      if (!sameSignature(hexHmac(o.signing.signingKey, sts), trailerSig.toLowerCase())) throw badSig()
    }
    if (Object.keys(trailers).length && !o.trailer) throw bad('unexpected trailer in aws-chunked body')
    o.onTrailers?.(trailers)
    if (buf.length || (await more()) || buf.length) throw bad('data after the final aws-chunked chunk')
    return
  }
}
