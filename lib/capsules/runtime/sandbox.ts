/**
 * Boots one capsule with bubblewrap. The chain, all in one process until bwrap forks:
 *
 *   unshare --mount: a private mount namespace where the capsule's disk image is
 *     loop-mounted (disk.ts) and the layer (on it, or deep in nestbox's 0700 data
 *     directory) is bound at a path the capsule's uid can reach (or, for a
 *     capsule started from a template, overlaid on it: overlay.ts; the host's
 *     system directories are overlaid over it too: system.ts) →
 *   unshare --user: a new user namespace; it reports and waits while we (host
 *     root) move it into the capsule's cgroups and write its uid/gid maps
 *     (0 → base); then it forbids nested user namespaces →
 *   setpriv: becomes root *inside* (host uid `base`) →
 *   bwrap: new pid, mount, ipc, uts, net (loopback only) and cgroup namespaces
 *     owned by that user namespace; the layer as `/`, the host system read-only
 *     over it, a fresh /proc and minimal /dev; capabilities cut down →
 *   pid 1 (bwrap's reaper, no capabilities) → the anchor (nestbox-enter --hold,
 *     bound from the host: it narrows its bounding set, then serves the capsule's
 *     network relays, network.ts), forked once all is set up.
 *
 * Every fd handed to the chain is consumed or closed before the capsule runs, so
 * nothing inside holds a descriptor that leads out of its root.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import type { Readable, Writable } from 'node:stream'
import { RELAY_DIR_INSIDE } from './network.ts'
import { writeIdMaps } from './uids.ts'

/** What root inside a capsule may do (all within its own namespaces): Docker's defaults minus raw sockets, mknod, setpcap, setfcap, audit. */
export const CAPSULE_CAPS = ['chown', 'dac_override', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'net_bind_service', 'sys_chroot']
/** Their numbers (linux/capability.h), as nestbox-enter takes them. */
const CAP_NUMBERS: Record<string, number> = { chown: 0, dac_override: 1, fowner: 3, fsetid: 4, kill: 5, setgid: 6, setuid: 7, net_bind_service: 10, sys_chroot: 18 }
export const KEEP_CAPS = CAPSULE_CAPS.map((c) => CAP_NUMBERS[c]).join(',')

/** Where nestbox-enter is bound read-only in a capsule, to serve as its anchor (on bwrap's /dev tmpfs, never in the layer). */
const ANCHOR_PATH = '/dev/.nestbox-anchor'

export const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export type BootSpec = {
  id: string
  /** The layer bound as `/` by the chain itself; absent: the mount hook puts `/` at LAYER_MOUNT (a disk image, a template). */
  layerDir?: string
  base: number
  range: number
  procsFiles: string[]
  /** Host directories bound read-only at the same path. */
  roDirs: string[]
  /** Paths (inside those directories) covered by an empty tmpfs. */
  hidden: string[]
  /** Files copied read-only over paths in /etc (passwd, group, hosts, hostname). */
  etcFiles: Record<string, string>
  /** Run once the chain's namespaces exist and its uid maps are written, before bwrap: the capsule's `/` at LAYER_MOUNT when `layerDir` is not given, and the overlays (root.ts). */
  mount?: (chainPid: number) => Promise<void>
  /** nestbox-enter on the host: the anchor. */
  anchorBinary: string
  /** The syscall filter (seccomp.ts) bwrap installs before the anchor, so pid 1 and the anchor run under it too. */
  seccomp?: string
  /** Host directories bound read-only at a path inside (through the chain's private mount namespace, so their host parents need not be reachable by the capsule's uid). */
  binds?: Array<{ source: string; path: string }>
  /** A host directory bound at RELAY_DIR_INSIDE where the anchor serves its relays (network.ts); `api`: also relay nestbox's API. */
  relay?: { dir: string; api: boolean }
  timeoutMs: number
  /** Run once the chain is in its cgroups and told to go on, while bwrap sets the capsule up (nestbox only waits then). */
  onGo?: () => void
}

export type Booted = { monitor: ChildProcess; pid1: number; anchor: number; cgroupns: boolean }

/** Where the layer is bound inside the boot chain's private mount namespace (never on the host's). */
export const LAYER_MOUNT = '/run/nestbox/capsule-root'
/** Likewise for the relay directory (network.ts), which lies in the 0700 data directory too. */
export const RELAY_MOUNT = '/run/nestbox/capsule-relay'
/** Mount points ${BINDS_MOUNT}/0..MAX_BINDS-1 for BootSpec.binds in the chain's private mount namespace. */
export const BINDS_MOUNT = '/run/nestbox/capsule-binds'
export const MAX_BINDS = 8

// One script, re-entered at each stage through $NESTBOX_BOOT (with $RELAY_MOUNT and $BINDS_MOUNT, the chain's only variables besides PATH).
const BOOT = `case $1 in
mount) [ "$2" = - ] || mount --bind -- "$2" "$3" || exit 1
  [ "$4" = - ] || mount --bind -- "$4" "$RELAY_MOUNT" || exit 1
  n=$5; i=0; shift 5
  while [ $i -lt $n ]; do mount --bind -- "$1" "$BINDS_MOUNT/$i" || exit 1; shift; i=$((i+1)); done
  exec unshare --user --keep-caps -- /bin/sh -c "$NESTBOX_BOOT" nestbox-boot user "$@" ;;
user) shift; echo r >&4; read _ <&3; exec 3<&- 4>&-
  echo 0 > /proc/sys/user/max_user_namespaces || exit 1
  exec setpriv --reuid=0 --regid=0 --clear-groups -- bwrap "$@" ;;
esac`

export function bootCapsule(s: BootSpec): Promise<Booted> {
  const fds: number[] = []
  const fdArgs: (string | number)[] = []
  const stdio: (string | number)[] = ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe']
  const pass = (path: string, flags = 'r') => {
    const fd = openSync(path, flags)
    fds.push(fd)
    stdio.push(fd)
    return stdio.length - 1
  }
  fdArgs.push('--bind', LAYER_MOUNT, '/')
  for (const d of s.roDirs) fdArgs.push('--ro-bind', d, d)
  const binds = (s.binds ?? []).slice(0, MAX_BINDS)
  binds.forEach((b, i) => fdArgs.push('--ro-bind', `${BINDS_MOUNT}/${i}`, b.path))
  for (const h of s.hidden) fdArgs.push('--perms', '0555', '--tmpfs', h, '--remount-ro', h)
  for (const [dest, src] of Object.entries(s.etcFiles)) fdArgs.push('--perms', '0644', '--ro-bind-data', pass(src), dest)
  const bwrapArgs = [
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--unshare-cgroup-try',
    '--hostname', s.id,
    ...fdArgs.map(String),
    '--proc', '/proc', '--dev', '/dev',
    '--ro-bind', s.anchorBinary, ANCHOR_PATH,
    ...(s.relay ? ['--bind', RELAY_MOUNT, RELAY_DIR_INSIDE] : []),
    // CAP_SETPCAP only lets the anchor narrow its bounding set; it gives it up at once
    '--cap-drop', 'ALL', ...[...CAPSULE_CAPS, 'setpcap'].flatMap((c) => ['--cap-add', `CAP_${c.toUpperCase()}`]),
    '--clearenv', '--setenv', 'PATH', SAFE_PATH,
    '--chdir', '/',
    '--info-fd', '5',
    ...(s.seccomp ? ['--seccomp', String(pass(s.seccomp))] : []),
    '--', ANCHOR_PATH, '--hold', '--keep-caps', KEEP_CAPS,
    ...(s.relay ? ['--ports', RELAY_DIR_INSIDE, ...(s.relay.api ? ['--api', RELAY_DIR_INSIDE] : [])] : []),
  ]
  const child = spawn('/usr/bin/unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', BOOT, 'nestbox-boot', 'mount', s.layerDir ?? '-', LAYER_MOUNT, s.relay?.dir ?? '-', String(binds.length), ...binds.map((b) => b.source), ...bwrapArgs], {
    stdio: stdio as never,
    detached: true,
    env: { PATH: SAFE_PATH, NESTBOX_BOOT: BOOT, RELAY_MOUNT, BINDS_MOUNT },
  })
  for (const fd of fds) closeSync(fd)
  // Joining a cgroup v1 hierarchy waits for an RCU grace period (10-20 ms here): let that overlap the chain's
  // start. The chain is one pid (each stage execs the next) until bwrap forks, well after it reads "go" below.
  const joined = child.pid ? Promise.all(s.procsFiles.map((f) => writeFile(f, String(child.pid)))) : Promise.resolve([])
  joined.catch(() => {})

  return new Promise<Booted>((resolve, reject) => {
    let stderr = ''
    let info = ''
    let done = false
    const io = child.stdio as unknown as [null, null, Readable, Writable, Readable, Readable]
    const fail = (why: string) => {
      if (done) return
      done = true
      clearTimeout(timer)
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
      reject(new Error(`capsule ${s.id} did not boot: ${why}${stderr ? `: ${stderr.trim().slice(0, 500)}` : ''}`))
    }
    const timer = setTimeout(() => fail(`no answer within ${s.timeoutMs} ms`), s.timeoutMs)
    io[2].on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', (err) => fail(err.message))
    child.on('exit', (code, sig) => fail(`bwrap exited (${sig ?? code})`))
    io[4].once('data', async () => {
      try {
        // blocked on its read now
        writeIdMaps(child.pid!, s.base, s.range)
        // its user namespace now maps 0 → base: the template can be idmapped through it
        await s.mount?.(child.pid!)
        // in the capsule's cgroups before it goes on: whatever it forks from here on is born in them
        await joined
        io[3].end('go\n')
        s.onGo?.()
      } catch (err) {
        fail(`preparing its namespaces: ${(err as Error).message}`)
      }
    })
    const children = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
      } catch {
        return ''
      }
    }
    // bwrap's pid 1 forks the anchor only once the mount namespace is complete:
    // from then on, nestbox-enter lands in the finished capsule
    const ready = (pid1: number, tries: number) => {
      if (done) return
      const kids = children(pid1)
      if (!kids) return void (tries < 50 ? setImmediate(ready, pid1, tries + 1) : setTimeout(ready, 1, pid1, tries + 1))
      done = true
      clearTimeout(timer)
      for (const x of [io[3], io[4], io[5]]) x.destroy()
      child.removeAllListeners('exit')
      // bwrap's monitor and pid 1 keep this socket as stderr: close our end, so the
      // one descriptor the capsule's pid 1 holds leads nowhere
      io[2].destroy()
      const cgroupns = readLinkSafe(`/proc/${pid1}/ns/cgroup`) !== readLinkSafe('/proc/self/ns/cgroup')
      resolve({ monitor: child, pid1, anchor: Number(kids.split(/\s+/)[0]), cgroupns })
    }
    io[5].on('data', (d: Buffer) => {
      info += d.toString()
      if (!info.includes('}')) return
      try {
        ready(JSON.parse(info)['child-pid'] as number, 0)
      } catch (err) {
        fail(`reading its pids: ${(err as Error).message}`)
      }
    })
  })
}

function readLinkSafe(p: string): string {
  try {
    return readlinkSync(p)
  } catch {
    return ''
  }
}

/**
 * Closes descriptors this process inherited without close-on-exec (fd > 2): every
 * child would inherit them, down to the programs inside capsules, and one that
 * refers to a host file or directory would be a way out. Everything node and its
 * addons open is close-on-exec, so only inherited leftovers are affected.
 */
export function closeInheritedFds(): number[] {
  const closed: number[] = []
  for (const name of readdirSync('/proc/self/fdinfo')) {
    const fd = Number(name)
    if (!(fd > 2)) continue
    try {
      const flags = parseInt(/^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '2000000', 8)
      if (flags & 0o2000000) continue
      closeSync(fd)
      closed.push(fd)
    } catch {
      // the fd was the directory listing itself, or closed meanwhile
    }
  }
  return closed
}
