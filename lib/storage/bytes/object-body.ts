/** An object's bytes on their way to a client: from memory (small objects) or streamed from its file. */
import type { FileHandle } from 'node:fs/promises'
import type { Writable } from 'node:stream'
import type { Held } from '../locks.ts'

const CHUNK = 512 * 1024
/**
 * Read buffers shared by all downloads. A buffer goes back only when the socket
 * has taken its bytes (the write callback), so a large download allocates
 * nothing per chunk and leaves no garbage for the collector to catch up with.
 */
const pool: Buffer[] = []
const POOLED = 8
const takeBuffer = () => pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK)
const giveBuffer = (b: Buffer) => void (pool.length < POOLED && pool.push(b))

/**
 * The bytes [start, end] of an open object file, readable once as a web stream
 * or piped into a Node response. Either closes the file and releases the read lock when it
 * ends, fails or is abandoned; the lock's hold limit cuts it off.
 */
export type FileBody = { web: () => ReadableStream<Uint8Array>; pipe: (out: Writable) => void; length: number; bytes?: Buffer }

export const memoryBody = (buf: Buffer): FileBody => ({
  length: buf.length,
  bytes: buf,
  web: () => new Response(buf as Uint8Array<ArrayBuffer>).body ?? new ReadableStream({ start: (c) => c.close() }),
  pipe: (out) => void out.end(buf),
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
    pipe(out) {
      let stopped = false
      let wake: (() => void) | undefined
      const resume = () => {
        const w = wake
        wake = undefined
        w?.()
      }
      const stop = (err?: unknown) => {
        if (stopped) return
        stopped = true
        held.signal.removeEventListener('abort', onAbort)
        out.off('drain', resume)
        out.off('close', onClose)
        finish()
        if (err) out.destroy(err instanceof Error ? err : new Error(String(err)))
        resume()
      }
      const onAbort = () => stop(held.signal.reason ?? new Error('read lock expired'))
      const onClose = () => stop() // the client went away (or the response is done)
      held.signal.addEventListener('abort', onAbort, { once: true })
      out.on('drain', resume)
      out.on('close', onClose)
      /** Reads the next chunk into a pooled buffer; the buffer returns to the pool once the socket has taken it. */
      let next = start
      const read = async (): Promise<[Buffer, number]> => {
        const buf = takeBuffer()
        const at = next
        const len = Math.min(CHUNK, end - at + 1)
        next += len
        try {
          const { bytesRead } = await fh.read(buf, 0, len, at)
          if (bytesRead !== len) throw new Error('object file shorter than its metadata')
          return [buf, len]
        } catch (e) {
          giveBuffer(buf)
          throw e
        }
      }
      const pump = async () => {
        try {
          let pending = next <= end ? read() : undefined
          while (pending && !stopped) {
            const [buf, n] = await pending
            if (stopped) return giveBuffer(buf)
            const ok = out.write(n === CHUNK ? buf : buf.subarray(0, n), () => giveBuffer(buf))
            // Read ahead into another buffer while the socket drains this one.
            pending = next <= end ? read() : undefined
            pending?.catch(() => {}) // observed when awaited
            if (!ok && !stopped) await new Promise<void>((r) => (wake = r))
          }
          if (!stopped) {
            out.end()
            stop()
          }
        } catch (e) {
          stop(e)
        }
      }
      void pump()
    },
  }
}

