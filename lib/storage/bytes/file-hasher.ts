/**
 * Hashes a file while it is being written (nestbox-receive splices an upload
 * into it): MD5 (the ETag) and, when the request signed its payload, SHA-256,
 * on a worker thread that follows the writer. Each read of the next 4 MiB runs
 * on libuv's pool while the worker hashes the last, so the digest keeps pace with
 * one core. The worker is inline source so the bundled executable needs no extra file.
 */
import { Worker } from 'node:worker_threads'

const SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const { open, read, close } = require('node:fs')
const CHUNK = 4 << 20
const jobs = new Map()
const readAt = (j, pos) => new Promise((resolve, reject) => {
  const buf = j.bufs[(j.flip ^= 1)]
  read(j.fd, buf, 0, Math.min(CHUNK, j.available - pos), pos, (err, n) => (err ? reject(err) : resolve({ buf, n, pos })))
})
function finish(j, reply) {
  jobs.delete(j.id)
  if (j.fd !== undefined) close(j.fd, () => {})
  if (!j.dropped) parentPort.postMessage({ id: j.id, ...reply })
}
async function pump(j) {
  if (j.busy || j.fd === undefined) return
  j.busy = true
  try {
    let next = j.hashed < j.available ? readAt(j, j.hashed) : null
    while (next) {
      const { buf, n, pos } = await next
      if (j.dropped) return finish(j, {})
      if (n <= 0) throw new Error('the file is shorter than what was written to it')
      const after = pos + n
      next = after < j.available ? readAt(j, after) : null // the next read overlaps this hash
      const bytes = buf.subarray(0, n)
      j.md5.update(bytes)
      j.sha256?.update(bytes)
      if (pos < 4096) j.head = Buffer.concat([j.head, bytes.subarray(0, 4096 - pos)])
      j.hashed = after
      if (!next && j.hashed < j.available) next = readAt(j, j.hashed)
    }
  } catch (err) {
    return finish(j, { error: err.message })
  }
  j.busy = false
  if (j.ended && j.hashed >= j.available) finish(j, { md5: j.md5.digest(), sha256: j.sha256?.digest('hex'), head: j.head })
}
parentPort.on('message', (m) => {
  if (m.op === 'follow') {
    const j = { id: m.id, md5: createHash('md5'), sha256: m.sha256 ? createHash('sha256') : null, head: Buffer.alloc(0), hashed: 0, available: 0, ended: false, busy: false, bufs: [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)], flip: 0 }
    jobs.set(m.id, j)
    open(m.path, 'r', (err, fd) => {
      if (err) return finish(j, { error: err.message })
      j.fd = fd
      if (j.dropped) return finish(j, {})
      pump(j)
    })
    return
  }
  const j = jobs.get(m.id)
  if (!j) return
  if (m.op === 'drop') {
    j.dropped = true // the pump stops after its current read; an idle job ends here
    if (!j.busy && j.fd !== undefined) finish(j, {})
    return
  }
  j.available = Math.max(j.available, m.at)
  if (m.op === 'end') j.ended = true
  pump(j)
})
`

export type FileDigests = { md5: Buffer; sha256?: string; head: Uint8Array }
export type FileFollow = {
  /** `bytes` of the file are written. */
  at(bytes: number): void
  /** The file is complete at `bytes`: resolves with its digests once hashed. */
  end(bytes: number): Promise<FileDigests>
  /** Gives up (the upload failed). */
  drop(): void
}

export function createFileHasher() {
  let worker: Worker | undefined
  let seq = 0
  type Reply = { id: number; error?: string; md5?: Uint8Array; sha256?: string; head?: Uint8Array }
  const waiting = new Map<number, (m: Reply) => void>()

  const get = () => {
    if (worker) return worker
    const w = new Worker(SOURCE, { eval: true })
    w.on('message', (m: Reply) => waiting.get(m.id)?.(m))
    w.on('error', () => {
      if (worker === w) worker = undefined
      for (const [id, done] of waiting) done({ id, error: 'the hashing worker failed' })
      waiting.clear()
    })
    w.unref()
    return (worker = w)
  }

  return {
    follow(path: string, o: { sha256: boolean }): FileFollow {
      const w = get()
      const id = ++seq
      const result = new Promise<FileDigests>((resolve, reject) => {
        waiting.set(id, (m) => {
          waiting.delete(id)
          if (m.error) reject(new Error(`hashing the upload failed: ${m.error}`))
          else resolve({ md5: Buffer.from(m.md5!), sha256: m.sha256, head: m.head ?? new Uint8Array(0) })
        })
      })
      result.catch(() => {}) // observed through end()
      w.postMessage({ op: 'follow', id, path, sha256: o.sha256 })
      return {
        at: (bytes) => w.postMessage({ op: 'at', id, at: bytes }),
        end: (bytes) => (w.postMessage({ op: 'end', id, at: bytes }), result),
        drop: () => {
          waiting.delete(id)
          w.postMessage({ op: 'drop', id })
        },
      }
    },
    close: () => worker?.terminate(),
  }
}
export type FileHasher = ReturnType<typeof createFileHasher>
