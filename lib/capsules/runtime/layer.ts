/**
 * A capsule's writable layer: the directory that is its `/` (the host system is
 * bound read-only over it at boot). Creating it, filling it from a template with
 * ids shifted into the capsule's range, copying it out as a template, measuring it.
 *
 * Templates store ids as seen inside a capsule (0 = capsule root) without setuid
 * bits, under a directory only host root can enter. Copies never follow symlinks.
 */
import { chmodSync, constants, lchownSync, type Stats, lstatSync, mkdirSync, readlinkSync, renameSync, symlinkSync } from 'node:fs'
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, open, readdir, readFile, readlink, symlink, utimes } from 'node:fs/promises'
import { join } from 'node:path'

export const CAPSULE_USER = { uid: 1000, name: 'user', home: '/home/user' }

type Shift = (id: number) => number

/**
 * The directories every capsule starts with (inside ids) and the mount points of
 * the host paths bound over it. Run at every boot: entries that exist (a
 * template's, an earlier boot's) are kept, except that a mount point which is not
 * a plain directory is moved aside, so no link can redirect a bind.
 */
export function prepareLayer(root: string, base: number, hostPaths: string[]) {
  const own = (p: string, id = 0) => lchownSync(p, base + id, base + id)
  // Runs as host root on content the capsule controlled: every parent must be a
  // real directory, or a link could point the mkdir/rename at a host path.
  const parentsAreDirs = (rel: string) => {
    const parts = rel.split('/').slice(0, -1)
    for (let i = 1; i <= parts.length; i++) if (!(lstatSafe(join(root, ...parts.slice(0, i))))?.isDirectory()) return false
    return true
  }
  const ensureDir = (rel: string, mode: number, id = 0, mountPoint = false) => {
    const p = join(root, rel)
    if (!(parentsAreDirs(rel))) {
      if (mountPoint) throw new Error(`the layer has a link above mount point /${rel}`)
      return
    }
    const st = lstatSafe(p)
    if (st?.isDirectory()) return
    if (st && !mountPoint) return
    if (st) renameSync(p, join(root, `.displaced-${rel.replace(/\//g, '_')}-${Date.now()}`))
    mkdirSync(p, { recursive: true })
    chmodSync(p, mode)
    own(p, id)
  }
  // the capsule's `/` (a fresh disk has it owned by host root)
  if (!lstatSafe(root)) mkdirSync(root, { mode: 0o755 })
  chmodSync(root, 0o755)
  own(root)
  ensureDir('dev', 0o755, 0, true)
  ensureDir('proc', 0o755, 0, true)
  for (const [rel, mode, id] of [['tmp', 0o1777], ['root', 0o700], ['home', 0o755], ['home/user', 0o755, CAPSULE_USER.uid], ['run', 0o755], ['mnt', 0o755], ['var', 0o755], ['var/tmp', 0o1777], ['var/lib', 0o755], ['var/log', 0o755], ['var/cache', 0o755]] as const)
    ensureDir(rel, mode, id)
  for (const host of hostPaths) {
    const rel = host.replace(/^\/+/, '')
    const st = lstatSync(host, { throwIfNoEntry: false })
    // a mount point deeper down (/var/lib/dpkg): its parents are the capsule's own directories
    const parts = rel.split('/')
    for (let i = 1; i < parts.length; i++) ensureDir(parts.slice(0, i).join('/'), 0o755)
    if (st?.isDirectory()) ensureDir(rel, 0o755, 0, true)
    else if (st?.isSymbolicLink()) {
      // merged-/usr hosts: /bin -> usr/bin and friends are links, not mounts
      const p = join(root, rel)
      if (!(parentsAreDirs(rel))) throw new Error(`the layer has a link above /${rel}`)
      const target = readlinkSync(host)
      const cur = readlinkSafe(p)
      if (cur === target) continue
      if (lstatSafe(p)) renameSync(p, join(root, `.displaced-${rel.replace(/\//g, '_')}-${Date.now()}`))
      symlinkSync(target, p)
      lchownSync(p, base, base)
    }
  }
}

const lstatSafe = (p: string) => lstatSync(p, { throwIfNoEntry: false })
const readlinkSafe = (p: string) => {
  try {
    return readlinkSync(p)
  } catch {
    return null
  }
}

/**
 * Copies the tree at `src` into `dst` (which must not exist), mapping owners with
 * `shift`. Only directories, regular files and symlinks are copied; nothing at
 * `mounts` (paths below `src`, as `/usr`) is: mount points become empty
 * directories and files bound in from elsewhere (a bind mount can put a single
 * file in a tree, e.g. a host file in a capsule) are left out. (Device numbers
 * cannot tell: overlayfs gives each layer's files a number of their own.)
 */
export async function copyTree(src: string, dst: string, shift: Shift, opts: { stripSetid: boolean; mounts?: Set<string> }) {
  const st = await lstat(src)
  if (!st.isDirectory()) throw new Error(`${src} is not a directory`)
  await copyDir(src, dst, st.mode, shift, opts.stripSetid, opts.mounts ?? new Set(), '')
  await lchown(dst, shift(st.uid), shift(st.gid))
  await utimes(dst, st.atime, st.mtime)
}

/** `mounts`: directories there are copied empty, other entries not at all. */
async function copyDir(src: string, dst: string, mode: number, shift: Shift, strip: boolean, mounts: Set<string>, rel: string) {
  await mkdir(dst, { mode: 0o700 })
  for (const e of await readdir(src, { withFileTypes: true })) {
    const s = join(src, e.name)
    const st = await lstat(s)
    const foreign = mounts.has(`${rel}/${e.name}`)
    if (foreign && !st.isDirectory()) continue
    if (st.isDirectory() && !foreign) await copyDir(s, join(dst, e.name), st.mode, shift, strip, mounts, `${rel}/${e.name}`)
    await copyEntry(s, join(dst, e.name), st, shift, strip, !foreign)
  }
  await chmod(dst, mode & 0o7777)
}

/**
 * Copies one entry lstat saw as `st` to `d`, with owners mapped and times kept:
 * a file's bytes, a link, or (`dirDone`: its contents were copied) a directory's
 * attributes on `d`, made empty here when missing.
 */
export async function copyEntry(s: string, d: string, st: Stats, shift: Shift, strip: boolean, dirDone = false) {
  const perm = st.mode & (strip ? 0o1777 : 0o7777)
  if (st.isDirectory()) {
    if (!dirDone) await mkdir(d, { mode: 0o700 }).catch((err) => { if (err.code !== 'EEXIST') throw err })
    await lchown(d, shift(st.uid), shift(st.gid))
    await chmod(d, perm)
    await utimes(d, st.atime, st.mtime)
  } else if (st.isFile()) {
    // O_NOFOLLOW plus copying from /proc/self/fd: exactly the file lstat saw, never a link's target
    const fh = await open(s, constants.O_RDONLY | constants.O_NOFOLLOW)
    try {
      const opened = await fh.stat()
      if (!opened.isFile() || opened.dev !== st.dev || opened.ino !== st.ino) return
      await copyFile(`/proc/self/fd/${fh.fd}`, d, constants.COPYFILE_FICLONE)
    } finally {
      await fh.close()
    }
    await lchown(d, shift(st.uid), shift(st.gid))
    await chmod(d, perm)
    await utimes(d, st.atime, st.mtime)
  } else if (st.isSymbolicLink()) {
    await symlink(await readlink(s), d)
    await lchown(d, shift(st.uid), shift(st.gid))
    await lutimes(d, st.atime, st.mtime)
  }
  // devices, sockets and fifos are not part of a template
}

/** The mount points in `pid`'s mount namespace, as paths from its root (`/usr`, `/dev/null`). */
export async function mountPoints(pid: number): Promise<Set<string>> {
  const text = await readFile(`/proc/${pid}/mountinfo`, 'utf8')
  const unescape = (p: string) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
  return new Set(text.split('\n').filter(Boolean).map((l) => unescape(l.split(' ')[4])).filter((p) => p !== '/'))
}

/** Inside id → host id for a capsule at `base`; ids outside the range become nobody. */
export const toHost = (base: number, range: number): Shift => (id) => base + (id >= 0 && id < range ? id : 65534)
/** Host id → inside id; ids from outside the capsule's range become nobody. */
export const toInside = (base: number, range: number): Shift => (id) => (id >= base && id < base + range ? id - base : 65534)

/** Bytes allocated by the files under `root` (st_blocks), never following symlinks. */
export async function diskUsage(root: string): Promise<number> {
  let total = 0
  const walk = async (dir: string) => {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const p = join(dir, e.name)
      try {
        const st = await lstat(p)
        total += st.blocks * 512
        if (st.isDirectory()) await walk(p)
      } catch {
        // removed while walking
      }
    }
  }
  await walk(root)
  return total
}

/**
 * Disk use of layers, for metrics sampled every 500 ms: walking a layer costs in
 * proportion to its files, so each is walked at most once per `ttlMs`, two walks
 * run at a time host-wide, and a sample waits at most `firstWaitMs` for a first one.
 */
export function createDiskMeter(o: { ttlMs?: number; firstWaitMs?: number; concurrency?: number } = {}) {
  const ttl = o.ttlMs ?? 10_000
  let active = 0
  const queue: (() => void)[] = []
  const limited = async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= (o.concurrency ?? 2)) await new Promise<void>((r) => queue.push(r))
    active++
    try {
      return await task()
    } finally {
      active--
      queue.shift()?.()
    }
  }
  return {
    async measure(d: { bytes: number; at: number; pending: Promise<number> | null }, layer: string): Promise<number> {
      if (!d.pending && Date.now() - d.at > ttl) {
        d.pending = limited(() => diskUsage(layer)).then(
          (bytes) => {
            d.bytes = bytes
            d.at = Date.now()
            d.pending = null
            return bytes
          },
          () => {
            d.pending = null
            return d.bytes
          },
        )
      }
      if (d.pending && !d.at) await Promise.race([d.pending, new Promise((r) => setTimeout(r, o.firstWaitMs ?? 200))])
      return d.bytes
    },
  }
}
