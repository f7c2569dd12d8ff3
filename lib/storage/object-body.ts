/** An object's bytes on their way to a client: from memory (small objects) or streamed from its file. */
import type { FileHandle } from 'node:fs/promises'
import { Readable } from 'node:stream'
import type { Held } from './locks.ts'

const CHUNK = 512 * 1024

/**
 * The bytes [start, end] of an open object file, readable once as a web stream
 * or a Node stream. Either closes the file and releases the read lock when it
 * ends, fails or is abandoned; the lock's hold limit cuts it off.
 */
export type FileBody = { web: () => ReadableStream<Uint8Array>; node: () => Readable; length: number; bytes?: Buffer }

export const memoryBody = (buf: Buffer): FileBody => ({
  length: buf.length,
  bytes: buf,
  web: () => new Response(buf as Uint8Array<ArrayBuffer>).body ?? new ReadableStream({ start: (c) => c.close() }),
  node: () => Readable.from([buf]),
})

export function fileBody(fh: FileHandle, start: number, end: number, held: Held): FileBody {
  let done = false
  const finish = () => {
    if (done) return
    done = true
    held.release()
    fh.close().catch(() => {})
  }
  return {
    length: end - start + 1,
    web() {
      let pos = start
      let ctrlRef: ReadableStreamDefaultController<Uint8Array> | undefined
      const onAbort = () => {
        ctrlRef?.error(held.signal.reason)
        finish()
      }
      held.signal.addEventListener('abort', onAbort, { once: true })
      const stop = () => {
        held.signal.removeEventListener('abort', onAbort)
        finish()
      }
      return new ReadableStream<Uint8Array>({
        start(ctrl) {
          ctrlRef = ctrl
          if (pos > end) {
            ctrl.close()
            stop()
          }
        },
        async pull(ctrl) {
          try {
            const len = Math.min(CHUNK, end - pos + 1)
            const buf = Buffer.allocUnsafe(len)
            const { bytesRead } = await fh.read(buf, 0, len, pos)
            if (done) return
            if (bytesRead === 0) throw new Error('object file shorter than its metadata')
            pos += bytesRead
            ctrl.enqueue(bytesRead === len ? buf : buf.subarray(0, bytesRead))
            if (pos > end) {
              ctrl.close()
              stop()
            }
          } catch (e) {
            stop()
            ctrl.error(e)
          }
        },
        cancel: stop,
      })
    },
    node() {
      if (end < start) {
        finish()
        return Readable.from([])
      }
      const rs = fh.createReadStream({ start, end, highWaterMark: CHUNK, autoClose: true })
      const onAbort = () => rs.destroy(held.signal.reason)
      held.signal.addEventListener('abort', onAbort, { once: true })
      rs.once('close', () => {
        held.signal.removeEventListener('abort', onAbort)
        finish()
      })
      return rs
    },
  }
}

