/**
 * Object bytes on disk. Every write goes to tmp/<id>, is fsynced, renamed to
 * objects/<id[0..2]>/<id> and the directory fsynced; only then does the caller
 * commit the metadata row that points at it. A crash before the commit leaves an
 * unreferenced file (swept later) and the old row still pointing at the old file;
 * after the commit the old file is unreferenced and swept. Readers never see a mix.
 */
import { randomBytes } from 'node:crypto'
import { constants, createReadStream, mkdirSync, readdirSync } from 'node:fs'
import { copyFile, mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises'
import { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { AppError } from '../../core/errors.ts'

const BATCH = 1024 * 1024
const IN_FLIGHT = 3
const SHARD_RE = /^[0-9a-f]{2}$/

export type WriteResult = { file: string; size: number }
export type TempFile = { id: string; path: string; fh: FileHandle }

/**
 * Frees the memory of chunks read from a Node request once they are on disk.
 * The HTTP parser gives every body chunk its own ArrayBuffer, which otherwise
 * lives until V8 next collects garbage; an upload makes almost no JS garbage,
 * so that happens only when ~64 MiB of such buffers have piled up. Detaching
 * (transfer to length 0) frees a buffer at once. Only chunks that own their
 * whole buffer are detached, never views into a shared one.
 */
type Transferable = ArrayBuffer & { transfer: (length: number) => ArrayBuffer } // ES2024, beyond our tsconfig's lib
function release(chunks: Uint8Array[]) {
  for (const c of chunks) {
    const ab = c.buffer
    if (ab instanceof ArrayBuffer && c.byteOffset === 0 && c.byteLength === ab.byteLength && c.byteLength > 0) (ab as Transferable).transfer(0)
  }
}

/** Writes `chunks` at `position`. Positions are explicit so several writes can be in flight at once. */
async function writeAll(fh: FileHandle, chunks: Uint8Array[], position: number) {
  let { bytesWritten } = await fh.writev(chunks, position)
  const total = chunks.reduce((n, c) => n + c.length, 0)
  // Regular files rarely write short, but writev may; finish the remainder.
  while (bytesWritten < total) {
    const rest = Buffer.concat(chunks).subarray(bytesWritten)
    const r = await fh.write(rest, 0, rest.length, position + bytesWritten)
    bytesWritten += r.bytesWritten
    if (r.bytesWritten === 0) throw new Error('short write')
  }
}

async function fsyncDir(dir: string) {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

export function createDiskStore(root: string) {
  const tmpDir = join(root, 'tmp')
  const objDir = join(root, 'objects')
  mkdirSync(tmpDir, { recursive: true, mode: 0o700 })
  // Shard directories (objects/00 … objects/ff) are made by the first write into each: 256 mkdirs at first start took 10–25 ms here, far more while the disk was busy.
  mkdirSync(objDir, { recursive: true, mode: 0o700 })
  /** Temp files being written and renamed files not yet committed: the sweeper leaves them alone. */
  const busy = new Set<string>()

  const newId = () => randomBytes(16).toString('hex')
  const pathOf = (file: string) => join(objDir, file.slice(0, 2), file)

  /** fsync, rename into place, fsync the directory. The file stays "busy" until settle(). */
  async function publish(fh: FileHandle, id: string) {
    await fh.sync()
    await fh.close()
    const shard = join(objDir, id.slice(0, 2))
    await rename(join(tmpDir, id), pathOf(id)).catch(async (e) => {
      if (e.code !== 'ENOENT') throw e
      await mkdir(shard, { recursive: true, mode: 0o700 }) // a no-op when a concurrent write made it first
      await fsyncDir(objDir) // the new shard's entry must be durable before the object inside it is
      await rename(join(tmpDir, id), pathOf(id))
    })
    await fsyncDir(shard)
  }

  /** A temp file the sweeper leaves alone, until finishTemp publishes it or discardTemp removes it. */
  async function createTemp(): Promise<TempFile> {
    const id = newId()
    busy.add(id)
    const path = join(tmpDir, id)
    const fh = await open(path, 'wx+', 0o600).catch((e) => {
      busy.delete(id)
      throw e
    })
    return { id, path, fh }
  }
  async function finishTemp(t: TempFile, size: number): Promise<WriteResult> {
    await publish(t.fh, t.id)
    return { file: t.id, size }
  }
  async function discardTemp(t: TempFile) {
    busy.delete(t.id)
    await t.fh.close().catch(() => {})
    await unlink(t.path).catch(() => {})
  }

  return {
    root,
    pathOf,
    /**
     * Streams `source` into a new object file. `sink` sees every chunk (hashing);
     * more than `maxSize` bytes fails with 413 and leaves nothing behind.
     */
    async write(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: { maxSize: number; sink?: (chunk: Uint8Array) => void | Promise<void>; signal?: AbortSignal }): Promise<WriteResult> {
      const t = await createTemp()
      const fh = t.fh
      let size = 0
      // Chunks of a Node request are fresh buffers nobody else keeps: ours to free after writing.
      const owned = source instanceof IncomingMessage
      try {
        let batch: Uint8Array[] = []
        let batchBytes = 0
        let written = 0
        const inFlight: Promise<void>[] = []
        for await (const chunk of source) {
          opts.signal?.throwIfAborted()
          size += chunk.length
          if (size > opts.maxSize) throw new AppError(413, 'EntityTooLarge', `object exceeds the bucket's limit of ${opts.maxSize} bytes`)
          const slow = opts.sink?.(chunk)
          if (slow) await slow // the sink (a hashing worker) is behind: stop reading until it catches up
          batch.push(chunk)
          batchBytes += chunk.length
          if (batchBytes >= BATCH) {
            // Keep receiving while earlier batches are written; bounded so memory stays flat.
            if (inFlight.length >= IN_FLIGHT) await inFlight.shift()
            const chunks = batch
            const p = owned ? writeAll(fh, chunks, written).then(() => release(chunks)) : writeAll(fh, batch, written)
            p.catch(() => {}) // observed when awaited below
            inFlight.push(p)
            written += batchBytes
            batch = []
            batchBytes = 0
          }
        }
        for (const p of inFlight.splice(0)) await p
        if (batch.length) await writeAll(fh, batch, written)
        if (owned) release(batch)
        opts.signal?.throwIfAborted()
        return await finishTemp(t, size)
      } catch (e) {
        await discardTemp(t)
        throw e
      }
    },
    /** A new temp file (read-write) for a writer outside this module (the receive addon): `finish` publishes it like write(), `discard` removes it. */
    create: createTemp,
    finish: finishTemp,
    discard: discardTemp,
    /** A new object file with the bytes [start, end] of the concatenation of `files` (end inclusive; all when omitted). */
    async concat(parts: Array<{ file: string; start?: number; end?: number }>, sink?: (chunk: Uint8Array) => void): Promise<WriteResult> {
      const id = newId()
      busy.add(id)
      const tmp = join(tmpDir, id)
      try {
        if (parts.length === 1 && parts[0].start === undefined && !sink) {
          // A whole-file copy can share blocks (reflink) where the filesystem allows it.
          await copyFile(pathOf(parts[0].file), tmp, constants.COPYFILE_FICLONE)
          const fh = await open(tmp, 'r+')
          const size = (await fh.stat()).size
          await publish(fh, id)
          return { file: id, size }
        }
        const fh = await open(tmp, 'wx', 0o600)
        let size = 0
        try {
          for (const p of parts) {
            const rs = createReadStream(pathOf(p.file), { start: p.start, end: p.end, highWaterMark: BATCH })
            for await (const chunk of rs as AsyncIterable<Buffer>) {
              sink?.(chunk)
              await writeAll(fh, [chunk], size)
              size += chunk.length
            }
          }
        } catch (e) {
          await fh.close().catch(() => {})
          throw e
        }
        await publish(fh, id)
        return { file: id, size }
      } catch (e) {
        busy.delete(id)
        await unlink(tmp).catch(() => {})
        throw e
      }
    },
    /** The metadata row now references (or definitely does not reference) this file. */
    settle: (file: string) => void busy.delete(file),
    /**
     * Removes a file that no committed row references any more, without waiting:
     * unlinking a large file can take long (on a disk mounted with `discard`, ~90 ms
     * per 256 MiB here). The orphan sweep leaves it alone meanwhile, and removes it
     * later if the unlink failed.
     */
    retire(file: string) {
      busy.add(file)
      void unlink(pathOf(file))
        .catch(() => {})
        .finally(() => busy.delete(file))
    },
    /** Removes a file that no committed row references. */
    async remove(file: string) {
      busy.delete(file)
      await unlink(pathOf(file)).catch((e) => {
        if (e.code !== 'ENOENT') throw e
      })
    },
    open: (file: string) => open(pathOf(file), 'r'),
    /** Deletes temp files nobody is writing. */
    async sweepTmp(): Promise<number> {
      let n = 0
      for (const name of await readdir(tmpDir)) {
        if (busy.has(name)) continue
        await rm(join(tmpDir, name), { force: true })
        n++
      }
      return n
    },
    /**
     * Deletes object files no committed row references. `referenced(prefix)`
     * returns the referenced ids starting with that 2-hex prefix. The busy set is
     * snapshotted before the lookup, so a file committed during the sweep is safe.
     */
    async sweepOrphans(referenced: (prefix: string) => Promise<Set<string>>): Promise<number> {
      let n = 0
      for (const h of readdirSync(objDir)) {
        if (!SHARD_RE.test(h)) continue
        const names = readdirSync(join(objDir, h))
        if (!names.length) continue
        const busyNow = new Set(busy)
        const live = await referenced(h)
        for (const name of names) {
          if (live.has(name) || busyNow.has(name)) continue
          await rm(join(objDir, h, name), { force: true })
          n++
        }
      }
      return n
    },
    /** Size on disk of a file (tests, diagnostics). */
    size: async (file: string) => (await stat(pathOf(file))).size,
  }
}
export type DiskStore = ReturnType<typeof createDiskStore>
