/**
 * compat(hybrids3 000): Content-Type is detected from the content. Binary formats
 * are recognised by their magic bytes (file-type); text is told apart from binary
 * by decoding the head as UTF-8, and then the key's extension names the text
 * format (JSON, HTML, CSV, ...), falling back to text/plain.
 */
import { fileTypeFromBuffer } from 'file-type'
import mime from 'mime'

/** How many leading bytes detection looks at. */
export const SNIFF_BYTES = 4100

function looksLikeText(head: Uint8Array): boolean {
  if (head.includes(0)) return false
  const decoder = new TextDecoder('utf-8', { fatal: true })
  // A truncated head may end inside a multi-byte character: allow cutting up to 3 bytes then.
  const maxCut = head.length >= SNIFF_BYTES ? 3 : 0
  for (let cut = 0; cut <= maxCut; cut++) {
    try {
      decoder.decode(head.subarray(0, head.length - cut))
      return true
    } catch {
      // try a shorter prefix
    }
  }
  return false
}

const TEXTUAL = /^(text\/|application\/(json|xml|javascript|ld\+json|x-sh|x-yaml|yaml|toml|sql)|image\/svg\+xml)/

export async function detectContentType(head: Uint8Array, key: string): Promise<string> {
  if (head.length === 0) return mime.getType(key) ?? 'application/octet-stream'
  const found = await fileTypeFromBuffer(head)
  if (found) return found.mime
  const byName = mime.getType(key)
  if (looksLikeText(head)) return byName && TEXTUAL.test(byName) ? byName : 'text/plain'
  return byName && !TEXTUAL.test(byName) ? byName : 'application/octet-stream'
}

/** Keeps the first SNIFF_BYTES bytes of a stream. */
export function headCollector() {
  const parts: Uint8Array[] = []
  let n = 0
  return {
    push(chunk: Uint8Array) {
      if (n >= SNIFF_BYTES) return
      const take = chunk.subarray(0, SNIFF_BYTES - n)
      parts.push(Uint8Array.from(take))
      n += take.length
    },
    bytes: () => Buffer.concat(parts),
  }
}
