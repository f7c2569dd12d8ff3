/**
 * MD5 (the ETag) of large uploads, computed on worker threads so the event loop
 * keeps receiving and writing while the digest runs in parallel. Bytes are
 * copied into 1 MiB staging buffers that are transferred, not cloned. The
 * worker is inline source so the bundled executable needs no extra file.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

const STAGE = 1024 * 1024
const SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const hashes = new Map()
parentPort.on('message', (m) => {
  if (m.op === 'update') {
    let h = hashes.get(m.id)
    if (!h) hashes.set(m.id, (h = createHash('md5')))
    h.update(new Uint8Array(m.buf, 0, m.len))
    // The buffer goes back to be refilled: no garbage piles up on either side.
    parentPort.postMessage({ id: m.id, ack: true, buf: m.buf }, [m.buf])
  } else if (m.op === 'digest') {
    const h = hashes.get(m.id) || createHash('md5')
    hashes.delete(m.id)
    parentPort.postMessage({ id: m.id, digest: h.digest() })
  } else hashes.delete(m.id)
})
`

/** `update` returns a promise when the worker is behind: await it before sending more (bounded memory). */
export type Md5 = { update: (chunk: Uint8Array) => void | Promise<void>; digest: () => Promise<Buffer>; drop: () => void }

/** Staged buffers a hasher may have in the worker's queue before the writer must wait. */
const MAX_QUEUED = 4

/**
 * Workers only pay off with a core to spare beyond the event loop, libuv's
 * page-cache writes and the kernel's side of the transfer. On two cores a
 * worker halved the main thread's CPU per MiB of a 256 MiB PUT (~2.2 -> ~1.1
 * ms) but raised the process's total (staging copies, messages) and ~17 MiB of
 * RSS, and PUT throughput did not move (A/B runs, issue 17): the box, not the
 * event loop, is the limit there. So two cores hash inline.
 */
export const defaultMd5Workers = () => Math.max(0, Math.min(2, availableParallelism() - 2))

export function createMd5Pool(size = defaultMd5Workers()) {
  const workers: Worker[] = []
  const waiting = new Map<number, (d: Buffer) => void>()
  const acks = new Map<number, () => void>()
  /** Staging buffers returned by the workers, reused before allocating new ones. */
  const free: Buffer[] = []
  const takeBuffer = () => free.pop() ?? Buffer.allocUnsafe(STAGE)
  let seq = 0

  const pick = (id: number): Worker => {
    const i = id % size
    if (!workers[i]) {
      const w = new Worker(SOURCE, { eval: true })
      w.on('message', (m: { id: number; digest?: Uint8Array; ack?: true; buf?: ArrayBuffer }) => {
        if (!m.ack) return waiting.get(m.id)?.(Buffer.from(m.digest!))
        if (free.length < 16) free.push(Buffer.from(m.buf!))
        acks.get(m.id)?.()
      })
      w.unref()
      workers[i] = w
    }
    return workers[i]
  }

  return {
    /** False when the pool has no workers: callers hash inline. */
    offloads: size > 0,
    hasher(): Md5 {
      const id = ++seq
      const w = pick(id)
      let stage = takeBuffer()
      let n = 0
      let queued = 0
      let wake: (() => void) | undefined
      acks.set(id, () => {
        queued--
        if (queued < MAX_QUEUED && wake) {
          const w = wake
          wake = undefined
          w()
        }
      })
      const flush = () => {
        if (!n) return
        w.postMessage({ op: 'update', id, buf: stage.buffer, len: n }, [stage.buffer as ArrayBuffer])
        queued++
        stage = takeBuffer()
        n = 0
      }
      return {
        update(chunk) {
          let off = 0
          while (off < chunk.length) {
            const take = Math.min(STAGE - n, chunk.length - off)
            stage.set(chunk.subarray(off, off + take), n)
            n += take
            off += take
            if (n === STAGE) flush()
          }
          if (queued >= MAX_QUEUED) return new Promise<void>((r) => (wake = r))
        },
        digest() {
          flush()
          return new Promise((resolve) => {
            waiting.set(id, (d) => {
              waiting.delete(id)
              acks.delete(id)
              resolve(d)
            })
            w.postMessage({ op: 'digest', id })
          })
        },
        drop: () => {
          acks.delete(id)
          w.postMessage({ op: 'drop', id })
        },
      }
    },
    close: () => Promise.all(workers.map((w) => w.terminate())),
  }
}
export type Md5Pool = ReturnType<typeof createMd5Pool>
