/**
 * A system the capsule can change. Each host system directory (/usr, /etc, and
 * /var/lib/dpkg, /var/lib/apt so the package manager knows what is installed) is
 * an overlayfs inside the capsule: the host's directory, *idmapped* through the
 * capsule's user namespace (host root's files appear as the capsule root's, so
 * apt, pip and npm -g can replace them) and read-only, is the lowest layer; a
 * template's changes to it (snapshots) sit above; the capsule's own upper
 * directory, on its disk, takes every write. The host's files never change.
 *
 * Idmapping gives capsule root the host root's rights over those files, so what
 * the host keeps from other users (not world-readable files, directories others
 * cannot enter: /etc/shadow, /etc/ssl/private, ...) is masked: a lower layer
 * between the host and the rest holds whiteouts for them. The capsule gets its
 * own account files (passwd, group, shadow, gshadow) in its upper /etc on first
 * boot, and hostname, hosts, resolv.conf at every boot.
 */
import { spawn } from 'node:child_process'
import { chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, watch, writeFileSync, writeSync, type FSWatcher, type Stats } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Logger } from '../../core/logger.ts'
import type { SystemView } from './capsule.ts'
import { isDir, type HostView } from './host-view.ts'
import { overlaySafePath, overlaySupported } from './overlay.ts'

/**
 * The host directories capsules can change and the mask over them (built in
 * the background from the start: a second or two for /usr unless cached), or
 * null where the host cannot overlay idmapped directories. `onStop` gets the
 * mask watcher's closer.
 */
export function systemView(o: { dataDir: string; capsulesDir: string; view: HostView; log: Logger; onStop: (stop: () => void) => void }): Promise<SystemView> {
  const p = overlaySupported()
    .then(async (ok) => {
      if (!ok) return null
      const dirs = [...o.view.roDirs, ...PACKAGE_STATE_DIRS.filter(isDir)].filter(overlaySafePath)
      // a mask per start; earlier ones go unless a capsule left running (onShutdown keep) may still stand on one
      const masks = join(o.dataDir, 'system-mask')
      if (!readdirSync(o.capsulesDir).some((id) => existsSync(join(o.capsulesDir, id, 'state.json')))) rmSync(masks, { recursive: true, force: true })
      const maskDir = join(masks, String(Date.now()))
      // mount points in every boot chain's namespace, on the host's /run
      for (const d of [MASK_MOUNT, ...dirs.map((d) => join(HOST_MOUNT, slug(d)))]) mkdirSync(d, { recursive: true, mode: 0o755 })
      await buildMask(maskDir, dirs, o.view.hide)
      o.onStop(watchMask(maskDir, dirs.filter((d) => d !== '/usr'), (err) => o.log.warn('updating the system mask failed', { err })))
      return { dirs, maskDir }
    })
    .catch((err) => {
      o.log.warn('capsules get the host system read-only: preparing the copy-on-write view failed', { err })
      return null
    })
  return p
}

/** Host directories overlaid besides the exposed system directories (when they exist). */
export const PACKAGE_STATE_DIRS = ['/var/lib/dpkg', '/var/lib/apt']

/** Where each idmapped host directory and the mask are attached inside the boot chain's mount namespace. */
export const HOST_MOUNT = '/run/nestbox/capsule-host'
export const MASK_MOUNT = '/run/nestbox/capsule-mask'

/** A host directory's name in the mask, the disk and HOST_MOUNT: /var/lib/dpkg → var_lib_dpkg. */
export const slug = (dir: string) => dir.replace(/^\/+/, '').replace(/\//g, '_')

/** Paths under `dir` the host keeps from others (not readable, or a directory not enterable, by others); NUL-separated from find. */
function hiddenUnder(dir: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/find', [dir, '-xdev', '(', '(', '!', '-type', 'l', '!', '-perm', '-o=r', ')', '-o', '(', '-type', 'd', '!', '-perm', '-o=x', ')', ')', '-print0', '-prune'], { stdio: ['ignore', 'pipe', 'ignore'] })
    const out: Buffer[] = []
    child.stdout!.on('data', (d: Buffer) => out.push(d))
    child.on('error', reject)
    // find exits 1 on unreadable entries: what it printed is still the answer
    child.on('close', () => resolve(Buffer.concat(out).toString().split('\0').filter((p) => p.startsWith(dir + '/'))))
  })
}

/**
 * /usr is large (a second or more to scan) and changes with packages: its scan
 * is kept host-wide in /run (gone at reboot) for as long as dpkg's status and
 * /usr, /usr/local keep their modification times. Other directories are small
 * and scanned at every start.
 */
const CACHE = '/run/nestbox/usr-mask.json'
async function hiddenUnderCached(dir: string): Promise<string[]> {
  if (dir !== '/usr' || !existsSync('/var/lib/dpkg/status')) return hiddenUnder(dir)
  const key = ['/var/lib/dpkg/status', '/usr', '/usr/local'].map((p) => statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? 0).join(':')
  try {
    const cached = JSON.parse(readFileSync(CACHE, 'utf8')) as { key: string; paths: string[] }
    if (cached.key === key) return cached.paths
  } catch {
    // none yet
  }
  const paths = await hiddenUnder(dir)
  mkdirSync(dirname(CACHE), { recursive: true })
  writeFileSync(`${CACHE}.${process.pid}`, JSON.stringify({ key, paths }), { mode: 0o600 })
  renameSync(`${CACHE}.${process.pid}`, CACHE)
  return paths
}

/**
 * Builds the mask at `maskDir`: for each host directory, a tree of directories
 * mirroring the host's (owner, mode, times) down to a whiteout for each hidden
 * path and each of `extra` (nestbox's own data, /etc/nestbox). Built afresh at
 * every start (in a new directory: capsules left running keep theirs), so it
 * follows the host as packages come and go.
 */
export async function buildMask(maskDir: string, dirs: string[], extra: string[]) {
  rmSync(maskDir, { recursive: true, force: true })
  mkdirSync(maskDir, { recursive: true, mode: 0o755 })
  const whiteouts: string[] = []
  for (const dir of dirs) {
    const top = join(maskDir, slug(dir))
    mirrorDir(dir, top)
    const hidden = [...(await hiddenUnderCached(dir)), ...extra.filter((p) => p.startsWith(dir + '/'))]
    for (const p of hidden) {
      const rel = p.slice(dir.length + 1)
      const parts = rel.split('/')
      for (let i = 1; i < parts.length; i++) {
        const d = join(top, ...parts.slice(0, i))
        if (!existsSync(d)) mirrorDir(join(dir, ...parts.slice(0, i)), d)
      }
      whiteouts.push(join(top, rel))
    }
  }
  if (whiteouts.length) await mknodWhiteouts(whiteouts)
}

const keptFromOthers = (st: Stats) => !st.isSymbolicLink() && (!(st.mode & 0o004) || (st.isDirectory() && !(st.mode & 0o001)))

/**
 * Keeps the mask current while nestbox runs: a path under a watched directory
 * that is created, renamed in or changed to something others may not read gets
 * its whiteout at once, for the capsules booted from then on (and, as overlayfs
 * looks it up afresh, those running). Entries are only added; a start rebuilds
 * the mask from scratch. /usr is too large to watch: it is scanned at start.
 */
export function watchMask(maskDir: string, dirs: string[], onError: (err: Error) => void): () => void {
  // one inotify watch per directory (not per file: /var/lib/dpkg/info alone holds thousands)
  const watchers = new Map<string, FSWatcher>()
  const onEntry = (dir: string, p: string) => {
    const st = lstatSync(p, { throwIfNoEntry: false })
    if (!st) return
    if (st.isDirectory() && !watchers.has(p)) watchTree(dir, p)
    if (!keptFromOthers(st)) return
    const top = join(maskDir, slug(dir))
    const parts = p.slice(dir.length + 1).split('/')
    try {
      for (let i = 1; i < parts.length; i++) {
        const d = join(top, ...parts.slice(0, i))
        if (!existsSync(d)) mirrorDir(join(dir, ...parts.slice(0, i)), d)
      }
    } catch (err) {
      return onError(err as Error)
    }
    mknodWhiteouts([join(top, ...parts)]).catch(onError)
  }
  const watchTree = (dir: string, d: string) => {
    try {
      const w = watch(d, { persistent: false }, (_ev, name) => name && onEntry(dir, join(d, name.toString())))
      w.on('error', () => {
        w.close()
        watchers.delete(d)
      })
      watchers.set(d, w)
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) watchTree(dir, join(d, e.name))
    } catch {
      // gone meanwhile, or not readable: nothing to watch
    }
  }
  for (const dir of dirs) watchTree(dir, dir)
  return () => {
    for (const w of watchers.values()) w.close()
    watchers.clear()
  }
}

function mirrorDir(hostDir: string, d: string) {
  const st = statSync(hostDir)
  mkdirSync(d)
  chownSync(d, st.uid, st.gid)
  chmodSync(d, st.mode & 0o7777)
  utimesSync(d, st.atime, st.mtime)
}

/** overlayfs whiteouts (character devices 0:0); Node has no mknod. */
export function mknodWhiteouts(paths: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', 'for p; do [ -e "$p" ] || [ -L "$p" ] || mknod -- "$p" c 0 0 || exit 1; done', 'nestbox-whiteouts', ...paths], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`whiteouts: ${err.trim().slice(0, 300)}`))))
  })
}

const PASSWD_USERS = (passwd: string) => passwd.split('\n').filter(Boolean).map((l) => l.split(':')[0])

/**
 * The capsule's accounts over a host system: the host's system users and groups
 * (ids below 1000, and nobody), so the owners of the host's files and dpkg's
 * records (statoverride, maintainer scripts) have their names — without
 * passwords or group members — then the capsule's own (`user`).
 */
export function systemAccounts(own: { passwd: string; group: string }, host: { passwd: string; group: string }) {
  const merge = (hostText: string, ownText: string, clear: (f: string[]) => void) => {
    const lines = hostText.split('\n').filter((l) => {
      const id = Number(l.split(':')[2])
      return l.split(':').length >= 4 && (id < 1000 || id === 65534)
    }).map((l) => {
      const f = l.split(':')
      clear(f)
      return f.join(':')
    })
    const taken = new Set(lines.flatMap((l) => [l.split(':')[0], `#${l.split(':')[2]}`]))
    for (const l of ownText.split('\n').filter(Boolean)) if (!taken.has(l.split(':')[0]) && !taken.has(`#${l.split(':')[2]}`)) lines.push(l)
    return lines.join('\n') + '\n'
  }
  return {
    passwd: merge(host.passwd, own.passwd, (f) => (f[1] = 'x')),
    group: merge(host.group, own.group, (f) => ((f[1] = 'x'), (f[3] = ''))),
  }
}

/**
 * Run by host root before the overlays are mounted, on the capsule's disk seen
 * from the host (`disk`): the upper and work directories of each host
 * directory (the upper's root takes the host directory's mode and the capsule
 * root as owner, as the merged directory shows it), and the /etc files.
 */
export function prepareSystem(o: { disk: string; base: number; dirs: string[]; etc: Record<string, string>; accounts: { passwd: string; group: string }; templateEtc: string | null }) {
  for (const dir of o.dirs) {
    const root = join(o.disk, 'host', slug(dir))
    mkdirSync(join(root, 'work'), { recursive: true, mode: 0o700 })
    const up = join(root, 'up')
    if (!lstatSync(up, { throwIfNoEntry: false })) {
      mkdirSync(up)
      const st = statSync(dir)
      chownSync(up, o.base + st.uid, o.base + st.gid)
      chmodSync(up, st.mode & 0o7777)
    }
  }
  if (!o.dirs.includes('/etc')) return
  const up = join(o.disk, 'host', 'etc', 'up')
  const own = (name: string) => lstatSync(join(up, name), { throwIfNoEntry: false }) ?? (o.templateEtc ? lstatSync(join(o.templateEtc, name), { throwIfNoEntry: false }) : undefined)
  const users = PASSWD_USERS(o.accounts.passwd)
  const accounts: Record<string, [string, number]> = {
    passwd: [o.accounts.passwd, 0o644],
    group: [o.accounts.group, 0o644],
    shadow: [users.map((u) => `${u}:*:19000:0:99999:7:::\n`).join(''), 0o640],
    gshadow: [PASSWD_USERS(o.accounts.group).map((g) => `${g}:*::\n`).join(''), 0o640],
  }
  // the capsule's own accounts once (useradd in a package's script changes them later); the rest at every boot
  for (const [name, [text, mode]] of Object.entries(accounts)) if (!own(name)) writeInto(up, name, text, mode, o.base)
  for (const [name, text] of Object.entries(o.etc)) writeInto(up, name, text, 0o644, o.base)
}

/** Writes `dir/name` as host root without following anything the capsule left there: a new file renamed over it. */
function writeInto(dir: string, name: string, text: string, mode: number, owner: number) {
  const tmp = join(dir, `.nestbox-${name}-${process.pid}`)
  rmSync(tmp, { force: true, recursive: true })
  const fd = openSync(tmp, 'wx', mode)
  try {
    writeSync(fd, text)
  } finally {
    closeSync(fd)
  }
  chownSync(tmp, owner, owner)
  chmodSync(tmp, mode)
  const dest = join(dir, name)
  // a directory there (the capsule made one) is moved aside: rename cannot replace it
  if (lstatSync(dest, { throwIfNoEntry: false })?.isDirectory()) renameSync(dest, join(dirname(dest), `.displaced-${name}-${Date.now()}`))
  renameSync(tmp, dest)
}
