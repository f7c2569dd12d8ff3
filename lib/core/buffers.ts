/**
 * Freeing a buffer's memory at once. Node gives every chunk it reads (process
 * output, a request body) and every Buffer.from(string) its own ArrayBuffer,
 * which otherwise lives until V8 next collects garbage; code that streams at
 * full speed makes little other garbage, so tens of MiB of such buffers pile up
 * first. Detaching (transfer to length 0) frees one now.
 */
import type { IncomingMessage } from 'node:http'

type Detachable = ArrayBuffer & { transfer: (length: number) => ArrayBuffer } // ES2024, beyond our tsconfig's lib

/** Frees `b` if it owns its whole ArrayBuffer (never a view into a shared one); `b` is empty afterwards. */
export function freeNow(b: Uint8Array) {
  const ab = b.buffer
  if (ab instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === ab.byteLength && b.byteLength > 0) (ab as Detachable).transfer(0)
}

/**
 * While `res` streams, frees each buffer its socket reads once Node's HTTP
 * client has parsed it: the parser hands the body on as copies, so every read
 * buffer (64 KiB) is garbage at once, and a large answer would otherwise pile
 * up ~100 MiB of them before V8 next collects. Only for an ordinary response:
 * an upgrade keeps a view of the read that carried its head.
 */
export function freeParsedReads(res: IncomingMessage) {
  const socket = res.socket
  if (!socket) return
  // added after the client's own 'data' listener, so it runs once the parser is done with the chunk
  socket.on('data', freeNow)
  res.once('close', () => socket.off('data', freeNow))
}
