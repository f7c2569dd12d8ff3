/** The MD5 worker pool gives the digest createHash gives, whatever the chunking, and bounds what it queues. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash, randomBytes } from 'node:crypto'
import { createMd5Pool } from '../../lib/storage/bytes/md5-pool.ts'

test('a worker-hashed stream of odd-sized chunks has the same MD5; concurrent hashers stay apart', async () => {
  const pool = createMd5Pool(1)
  // The pool's workers are unref'd (they never keep a server alive); here nothing else holds the process up.
  const alive = setInterval(() => {}, 1000)
  try {
    assert.ok(pool.offloads)
    const feed = async (data: Buffer, sizes: number[]) => {
      const h = pool.hasher()
      let off = 0
      let waited = 0
      for (let i = 0; off < data.length; i++) {
        const n = Math.min(sizes[i % sizes.length], data.length - off)
        const slow = h.update(data.subarray(off, off + n))
        if (slow) {
          waited++
          await slow
        }
        off += n
      }
      return { digest: (await h.digest()).toString('hex'), waited }
    }
    const a = randomBytes(9 * 1024 * 1024 + 7)
    const b = randomBytes(3 * 1024 * 1024 + 1)
    const [ra, rb] = await Promise.all([feed(a, [65536, 1048577, 13, 300_001]), feed(b, [1, 4096, 2 * 1024 * 1024])])
    assert.is(ra.digest, createHash('md5').update(a).digest('hex'))
    assert.is(rb.digest, createHash('md5').update(b).digest('hex'))
    const empty = pool.hasher()
    assert.is((await empty.digest()).toString('hex'), createHash('md5').digest('hex'))
  } finally {
    clearInterval(alive)
    await pool.close()
  }
})

test.run()
