/**
 * Disk limits. Each capsule's files (its layer, the changes it made to the host
 * system, overlay work dirs) live in a filesystem of their own: an ext4 image in
 * a sparse file, `disk.img` in the capsule's directory, as large as its
 * `disk_size_mb`. It is loop-mounted in its boot chain's private mount namespace
 * (root.ts, mounter.ts; never on the host's), so the kernel stops a capsule at its size
 * with ENOSPC and nothing a capsule writes can fill the host's disk beyond it.
 * The mount goes away with the capsule; `discard` gives deleted blocks back to
 * the host (holes punched in the image).
 *
 * mkfs costs 20-140 ms, so it runs once per size; capsules get sparse copies of
 * that image (a few ms), made ahead: spares wait in a small pool per size and a
 * create only renames one (the pool refills in the background, once no capsule
 * is booting: starting cp forks nestbox, which stalls its event loop for
 * milliseconds that a boot and its first exec would otherwise wait for).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runHostCommand } from './host-command.ts'
import { DISK_DATA } from './mounter.ts'

/** Where a capsule's disk is mounted inside its boot chain's mount namespace. */
export const DISK_MOUNT = '/run/nestbox/capsule-disk'
/** As mount(8) takes them (the probe); the mount helper makes the same mount (mounter.ts DISK_DATA). */
const DISK_MOUNT_OPTS = `loop,nodev,${DISK_DATA}`

/**
 * Formats a sparse ext4 image of `mb` MiB at `path`: no reserved blocks, lazy
 * init, and no journal — loading one doubles the mount's cost at every boot, and
 * a capsule's disk is scratch space whose host crash costs an fsck, not the host.
 */
export async function makeImage(path: string, mb: number) {
  await runHostCommand('/usr/bin/truncate', ['-s', `${mb}M`, path])
  await runHostCommand('/usr/sbin/mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', '-E', 'lazy_itable_init=1,nodiscard', path])
}

export type Disks = ReturnType<typeof createDisks>

/** Quiet time after a spare was taken before the pool refills (REFILL_MS after the last one, and no boot under way). */
const REFILL_MS = 50

/**
 * `dir`: where formatted spares wait (the runtime's data dir, so a rename moves
 * one into a capsule). `busy`: true while the refill should wait (capsules booting).
 */
export function createDisks(o: { dir: string; spares?: number; onError?: (err: Error) => void; busy?: () => boolean }) {
  const want = o.spares ?? 4
  mkdirSync(o.dir, { recursive: true, mode: 0o700 })
  // left by an earlier run: spares `<mb>-<pid>-<n>.img` and formatted originals `<mb>.img`; half-made ones (`.tmp`) go
  const pool = new Map<number, string[]>()
  for (const name of readdirSync(o.dir)) {
    const m = /^(\d+)-\d+-\d+\.img$/.exec(name)
    if (m) pool.set(Number(m[1]), [...(pool.get(Number(m[1])) ?? []), join(o.dir, name)])
    else if (!/^\d+\.img$/.test(name)) rmSync(join(o.dir, name), { force: true })
  }
  let seq = 0
  /**
   * A copy of the size's formatted original: mkfs runs once per size; a sparse
   * copy takes a few ms instead of its tens (ext4 does not mind the copies
   * sharing a UUID).
   */
  const formatting = new Map<number, Promise<string>>()
  const original = (mb: number) => {
    const path = join(o.dir, `${mb}.img`)
    if (existsSync(path)) return Promise.resolve(path)
    let p = formatting.get(mb)
    if (!p) {
      const tmp = `${path}.${process.pid}.tmp`
      // originals of the four sizes made last are kept
      const originals = readdirSync(o.dir).filter((n) => /^\d+\.img$/.test(n)).map((n) => join(o.dir, n))
      for (const old of originals.sort((x, y) => statSync(y).mtimeMs - statSync(x).mtimeMs).slice(3)) rmSync(old, { force: true })
      p = makeImage(tmp, mb).then(() => (renameSync(tmp, path), path))
      p.finally(() => formatting.delete(mb)).catch(() => {})
      formatting.set(mb, p)
    }
    return p
  }
  const copy = async (mb: number, dest: string) => {
    const tmp = `${dest}.tmp`
    // an original removed meanwhile (sizes made after it) is made again
    await runHostCommand('/bin/cp', ['--sparse=always', '--', await original(mb), tmp]).catch(async () => runHostCommand('/bin/cp', ['--sparse=always', '--', await original(mb), tmp]))
    renameSync(tmp, dest)
  }
  const filling = new Set<number>()
  const refill = async (mb: number) => {
    if (filling.has(mb)) return
    filling.add(mb)
    try {
      // only the sizes in use are kept ready
      for (const [size, list] of pool) if (size !== mb) for (const p of list.splice(0)) rmSync(p, { force: true })
      while ((pool.get(mb)?.length ?? 0) < want) {
        const spare = join(o.dir, `${mb}-${process.pid}-${seq++}.img`)
        await copy(mb, spare)
        pool.set(mb, [...(pool.get(mb) ?? []), spare])
      }
    } catch (err) {
      o.onError?.(err as Error)
    } finally {
      filling.delete(mb)
    }
  }
  const due = new Set<number>()
  let timer: NodeJS.Timeout | undefined
  const refillLater = (mb: number) => {
    due.add(mb)
    clearTimeout(timer)
    const tick = () => {
      if (o.busy?.()) return void (timer = setTimeout(tick, REFILL_MS).unref())
      for (const size of due) void refill(size)
      due.clear()
    }
    timer = setTimeout(tick, REFILL_MS).unref()
  }
  return {
    /** Puts a fresh, empty image of `mb` MiB at `dest` (same filesystem as the pool). */
    async make(dest: string, mb: number) {
      const spare = pool.get(mb)?.shift()
      if (spare) renameSync(spare, dest)
      else await copy(mb, dest)
      refillLater(mb)
    },
  }
}

/** Bytes in use on the filesystem holding `path` (the capsule's disk seen through its root). */
export async function usedBytes(path: string): Promise<number> {
  const s = await statfs(path)
  return (s.blocks - s.bfree) * s.bsize
}

/** Bytes the image takes on the host (its allocated blocks): the measure while the capsule is stopped. */
export const imageBytes = (path: string) => (statSync(path, { throwIfNoEntry: false })?.blocks ?? 0) * 512

let probed: Promise<boolean> | null = null

/** Whether this host can loop-mount an ext4 image (mkfs.ext4 present, loop devices available), tried once. */
export function disksSupported(): Promise<boolean> {
  probed ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nestbox-disk-probe-'))
    const remove = () => rmSync(dir, { recursive: true, force: true })
    // a process that ends while the probe runs (a short CLI command, a test) still removes its 8 MiB image
    process.once('exit', remove)
    try {
      mkdirSync(join(dir, 'm'))
      await makeImage(join(dir, 'img'), 8)
      await runHostCommand('/usr/bin/unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', 'mount -t ext4 -o "$1" -- "$2" "$3" && umount "$3"', 'probe', DISK_MOUNT_OPTS, join(dir, 'img'), join(dir, 'm')])
      return true
    } catch {
      return false
    } finally {
      process.off('exit', remove)
      remove()
    }
  })()
  return probed
}
