/**
 * Streams an upload into a new object file while computing its MD5 (the ETag),
 * any declared x-amz-checksum and the head bytes used for type detection, then
 * checks every declared digest and length. On any mismatch the file is removed
 * and nothing is committed.
 */
import { createHash } from 'node:crypto'
import { AppError } from '../../core/errors.ts'
import { contentMd5Mismatch, digester, headerOf, sha256Mismatch, wellFormed, type Algorithm } from './checksums.ts'
import { headCollector, SNIFF_BYTES } from './content-type.ts'
import type { DiskStore } from './disk.ts'
import type { Md5, Md5Pool } from './md5-pool.ts'
import type { Receiver } from './receiver.ts'
import type { ByteSource, Declared } from '../types.ts'

type IngestIo = { disk: DiskStore; md5: Md5Pool; receiver?: Receiver }

export type Ingested = { file: string; size: number; md5: string; checksum: { algorithm: Algorithm; value: string } | null; head: Uint8Array }

/** Uploads at least this large (or of unknown length) hash on a worker thread, when the pool has workers. */
const OFFLOAD_BYTES = 8 * 1024 * 1024

function inlineMd5(): Md5 {
  const h = createHash('md5')
  return { update: (c) => void h.update(c), digest: async () => h.digest(), drop: () => {} }
}

const checkContentMd5 = (d: Declared, md5: Buffer) => {
  if (d.contentMd5 !== undefined && md5.toString('base64') !== d.contentMd5) throw contentMd5Mismatch()
}

export async function ingest(io: IngestIo, body: ByteSource, d: Declared, o: { maxSize: number; signal?: AbortSignal }): Promise<Ingested> {
  const disk = io.disk
  if (d.contentLength !== undefined && d.contentLength > o.maxSize)
    throw new AppError(413, 'EntityTooLarge', `object of ${d.contentLength} bytes exceeds the bucket's limit of ${o.maxSize} bytes`)
  if (d.contentMd5 !== undefined && !/^[A-Za-z0-9+/]{22}==$/.test(d.contentMd5)) throw new AppError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.')
  if (d.direct && d.contentLength !== undefined && !d.checksum && io.receiver?.available()) {
    const socket = d.direct.take()
    if (socket !== undefined) return ingestTaken(io.disk, io.receiver, socket, d.contentLength, d, o.signal)
  }
  const md5 = io.md5.offloads && (d.contentLength === undefined || d.contentLength >= OFFLOAD_BYTES) ? io.md5.hasher() : inlineMd5()
  const sum = d.checksum ? digester(d.checksum.algorithm) : null
  const head = headCollector()
  let w: Awaited<ReturnType<DiskStore['write']>>
  try {
    w = await disk.write(body, {
    maxSize: o.maxSize,
    signal: o.signal,
    sink: (chunk) => {
      sum?.update(chunk)
      head.push(chunk)
      return md5.update(chunk)
    },
  })
  } catch (e) {
    md5.drop()
    throw e
  }
  try {
    if (d.contentLength !== undefined && w.size !== d.contentLength)
      throw new AppError(400, 'IncompleteBody', `You did not provide the number of bytes specified by the Content-Length (${d.contentLength}, got ${w.size}).`)
    const md5b = await md5.digest()
    checkContentMd5(d, md5b)
    let checksum: Ingested['checksum'] = null
    if (d.checksum && sum) {
      const value = await sum.digest()
      const expected = d.checksum.value()
      if (expected !== undefined) {
        if (!wellFormed(d.checksum.algorithm, expected)) throw new AppError(400, 'InvalidRequest', `Value for ${headerOf(d.checksum.algorithm)} header is invalid.`)
        if (expected !== value) throw new AppError(400, 'BadDigest', `The ${d.checksum.algorithm} you specified did not match the calculated checksum.`)
      }
      checksum = { algorithm: d.checksum.algorithm, value }
    }
    return { file: w.file, size: w.size, md5: md5b.toString('hex'), checksum, head: head.bytes() }
  } catch (e) {
    await disk.remove(w.file)
    throw e
  }
}

/** What the receive addon's failures (their `code`, receive.c) mean to the client. */
function takeError(err: Error & { code?: string }): AppError {
  switch (err.code) {
    case 'closed':
      return new AppError(400, 'IncompleteBody', `You did not provide the number of bytes specified by the Content-Length: ${err.message}`)
    case 'idle':
      return new AppError(400, 'RequestTimeout', 'Your socket connection to the server was not read from or written to within the timeout period.')
    case 'busy':
      return new AppError(503, 'SlowDown', 'Please reduce your request rate.')
    default:
      return new AppError(500, 'InternalError', `receiving the upload failed: ${err.message}`)
  }
}

/**
 * A body taken off the connection: the receive addon (receiver.ts) writes it into a new object
 * file and answers with its digests; then the same checks as ingest().
 */
async function ingestTaken(disk: DiskStore, receiver: Receiver, socket: number, length: number, d: Declared, signal?: AbortSignal): Promise<Ingested> {
  const sha256 = d.direct?.sha256
  const t = await disk.create()
  try {
    const digests = await receiver.take(socket, t.fh.fd, length, { sha256: sha256 !== undefined, signal }).catch((err) => {
      throw signal?.aborted ? err : takeError(err as Error)
    })
    if (sha256 !== undefined && digests.sha256 !== sha256) throw sha256Mismatch()
    checkContentMd5(d, digests.md5)
    const head = Buffer.alloc(Math.min(SNIFF_BYTES, length))
    await t.fh.read(head, 0, head.length, 0)
    const w = await disk.finish(t, length)
    return { file: w.file, size: w.size, md5: digests.md5.toString('hex'), checksum: null, head }
  } catch (e) {
    await disk.discard(t)
    throw e
  }
}
