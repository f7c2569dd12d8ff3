/**
 * Freeing a buffer's memory at once. Node gives every chunk it reads (process
 * output, a request body) and every Buffer.from(string) its own ArrayBuffer,
 * which otherwise lives until V8 next collects garbage; code that streams at
 * full speed makes little other garbage, so tens of MiB of such buffers pile up
 * first. Detaching (transfer to length 0) frees one now.
 */
type Detachable = ArrayBuffer & { transfer: (length: number) => ArrayBuffer } // ES2024, beyond our tsconfig's lib

/** Frees `b` if it owns its whole ArrayBuffer (never a view into a shared one); `b` is empty afterwards. */
export function freeNow(b: Uint8Array) {
  const ab = b.buffer
  if (ab instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === ab.byteLength && b.byteLength > 0) (ab as Detachable).transfer(0)
}
