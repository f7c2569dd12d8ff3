/**
 * One capsule on this host: its records on disk, booting it, stopping every
 * process it has, freezing it. `meta.json` (slot, spec) lives as long as the
 * capsule's files; `state.json` (pids of a booted sandbox) as long as it runs, so
 * a restarted nestbox can tell a running capsule from one that kept only files.
 */
import type { ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../../core/logger.ts'
import type { CapsuleApiListener } from '../../core/wiring.ts'
import type { CapsuleCgroup } from './cgroups.ts'
import type { HostView } from './host-view.ts'
import type { EnterTarget } from './enter.ts'
import type { BackgroundProcess } from './exec.ts'
import { prepareLayer } from './layer.ts'
import { pidNamespace, startTicks } from './proc-table.ts'
import { enterHelperPath } from './enter-helper.ts'
import { hostsFile, PASTA_FILES, relayDir, resolvConf, resolveAllowOut, startInternet } from './network.ts'
import { bootCapsule } from './sandbox.ts'
import { DISK_MOUNT } from './disk.ts'
import { mountRoot } from './root.ts'
import { systemAccounts } from './system.ts'
import type { CapsuleSpec } from './types.ts'

/**
 * `lower`: the template directory overlaid under the layer (overlay.ts); absent when the layer holds everything.
 * `diskMb`: the capsule's files are in a disk image of that size (disk.ts); absent: in its directory, unlimited.
 */
export type Meta = { id: string; slot: number; spec: CapsuleSpec; createdAt: number; lower?: string; diskMb?: number }
type Pids = { pid1: number; pid1Ticks: number; anchor: number; monitor: number; monitorTicks: number; cgroupns: boolean; pasta?: number; pastaTicks?: number; /** before pasta */ slirp?: number; slirpTicks?: number }

export type Capsule = {
  meta: Meta
  dir: string
  layer: string
  base: number
  cg: CapsuleCgroup
  state: 'running' | 'paused' | 'files-only'
  pids: Pids | null
  pidns: string | null
  monitor: ChildProcess | null
  /** Paused by SIGSTOP because the host has no freezer. */
  stopped: boolean
  procs: Map<number, BackgroundProcess>
  disk: { bytes: number; at: number; pending: Promise<number> | null }
  /** Stops serving nestbox's API to this capsule (network modes nestbox and internet). */
  closeApi: (() => void) | null
}

/** Serves nestbox's API on a unix socket for one capsule (core/wiring.ts). */
export type ApiListener = CapsuleApiListener

/** The host directories a capsule can change (system.ts) and the mask over them; null: bound read-only. */
export type SystemView = { dirs: string[]; maskDir: string } | null

export type HostEnv = HostView & { log: Logger; range: number; pidsMax: number; bootTimeoutMs: number; seccomp?: string; api?: ApiListener; system: Promise<SystemView> }

export const readMeta = (dir: string): Meta | null => {
  try {
    return JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Meta
  } catch {
    return null
  }
}

export function newCapsule(meta: Meta, dir: string, base: number, cg: CapsuleCgroup): Capsule {
  return { meta, dir, layer: join(dir, 'layer'), base, cg, state: 'files-only', pids: null, pidns: null, monitor: null, stopped: false, procs: new Map(), disk: { bytes: 0, at: 0, pending: null }, closeApi: null }
}

export const target = (c: Capsule): EnterTarget => ({ id: c.meta.id, pid1: c.pids!.pid1, procsFiles: c.cg.procsFiles, cgroupns: c.pids!.cgroupns })

/** True while the sandbox's pid 1 is the very process we booted (not a reused pid). */
export const alive = (c: Capsule) => !!c.pids && startTicks(c.pids.pid1) === c.pids.pid1Ticks

/** Small records are written synchronously: a few µs each, off the thread pool that file copies keep busy. */
export function writeMeta(c: Capsule) {
  mkdirSync(c.dir, { recursive: true, mode: 0o700 })
  writeFileSync(join(c.dir, 'meta.json'), JSON.stringify(c.meta))
}

/** Boots the sandbox over the capsule's layer; `onExit` runs if it ever dies on its own. */
/**
 * `hooks.starting`: the capsule's cgroups exist and its chain is in them, while bwrap sets it up.
 * `hooks.entered`: the sandbox exists (its pid 1 and cgroups), though boot goes on (relay, network); programs can be entered from now.
 */
export async function boot(c: Capsule, env: HostEnv, onExit: (c: Capsule) => void, hooks: { starting?: (procsFiles: string[]) => void; entered?: (t: EnterTarget) => void } = {}) {
  const spec = c.meta.spec
  const sys = await env.system
  const image = diskImage(c)
  const mountPoints = [...env.roDirs, ...env.hostLinks, ...(sys?.dirs ?? [])]
  if (!image) prepareLayer(c.layer, c.base, mountPoints)
  const etc = join(c.dir, 'etc')
  mkdirSync(etc, { recursive: true, mode: 0o700 })
  writeFileSync(join(etc, 'hostname'), `${spec.id}\n`)
  const net = spec.network ?? { mode: 'none' }
  writeFileSync(join(etc, 'hosts'), hostsFile(spec.id, net.mode))
  writeFileSync(join(etc, 'resolv.conf'), resolvConf(net.mode))
  // leftovers of an earlier boot (a crash, a dead init) go before the new sandbox
  if (c.pids || c.cg.exists()) await killAll(c)
  c.cg.create({ vcpus: spec.vcpus, memoryBytes: spec.memoryMb * 1024 * 1024, pidsMax: env.pidsMax })
  const etcFiles: Record<string, string> = env.roDirs.includes('/etc') && !sys?.dirs.includes('/etc')
    ? { '/etc/passwd': env.sharedEtc.passwd, '/etc/group': env.sharedEtc.group, '/etc/hostname': join(etc, 'hostname'), '/etc/hosts': join(etc, 'hosts'), '/etc/resolv.conf': join(etc, 'resolv.conf') }
    : {}
  // the relay directory: the anchor (capsule root, host uid `base`) makes its sockets there
  const relay = relayDir(c.dir)
  rmSync(relay, { recursive: true, force: true })
  mkdirSync(relay, { mode: 0o700 })
  chownSync(relay, c.base, c.base)
  const withApi = net.mode !== 'none' && !!env.api
  if (withApi) await listenApi(c, env)
  // the capsule's disk as the chain sees it, and as host root reaches it while the chain waits
  const disk = image ? DISK_MOUNT : c.dir
  const b = await bootCapsule({
    id: spec.id,
    layerDir: image || c.meta.lower ? undefined : c.layer,
    mount: (pid) =>
      mountRoot({
        pid,
        image,
        disk,
        diskFromHost: image ? `/proc/${pid}/root${DISK_MOUNT}` : c.dir,
        prepare: image ? (layer) => prepareLayer(layer, c.base, mountPoints) : null,
        base: c.base,
        template: c.meta.lower ?? null,
        system: sys && { ...sys, etc: { hostname: `${spec.id}\n`, hosts: hostsFile(spec.id, net.mode), 'resolv.conf': resolvConf(net.mode) }, accounts: systemAccounts({ passwd: readFileSync(env.sharedEtc.passwd, 'utf8'), group: readFileSync(env.sharedEtc.group, 'utf8') }, { passwd: readFileSync('/etc/passwd', 'utf8'), group: readFileSync('/etc/group', 'utf8') }) },
      }),
    base: c.base,
    range: env.range,
    procsFiles: c.cg.procsFiles,
    roDirs: env.roDirs.filter((d) => !sys?.dirs.includes(d)),
    hidden: env.hide.filter((h) => statSync(h, { throwIfNoEntry: false })?.isDirectory()),
    etcFiles,
    anchorBinary: enterHelperPath(),
    seccomp: env.seccomp,
    relay: { dir: relay, api: withApi },
    binds: spec.binds,
    timeoutMs: env.bootTimeoutMs,
    onGo: () => hooks.starting?.(c.cg.procsFiles),
  })
  hooks.entered?.({ id: spec.id, pid1: b.pid1, procsFiles: c.cg.procsFiles, cgroupns: b.cgroupns })
  // the relays and the way out come up side by side (pasta takes ~20 ms to configure the namespace)
  const [relayUp, wayOut] = await Promise.allSettled([
    waitForFile(join(relay, 'ports.sock'), env.bootTimeoutMs),
    net.mode === 'internet' ? (async () => startInternet(b.pid1, net.allowOut ? await resolveAllowOut(net.allowOut) : null, c.dir))() : null,
  ])
  const helper = wayOut.status === 'fulfilled' ? wayOut.value : null
  if (relayUp.status === 'rejected' || wayOut.status === 'rejected') {
    helper?.kill('SIGKILL')
    signal(b.pid1, 'SIGKILL')
    throw relayUp.status === 'rejected' ? relayUp.reason : (wayOut as PromiseRejectedResult).reason
  }
  const pasta = helper ? { pid: helper.pid!, ticks: startTicks(helper.pid!) ?? -1 } : null
  c.pids = { pid1: b.pid1, pid1Ticks: startTicks(b.pid1) ?? -1, anchor: b.anchor, monitor: b.monitor.pid!, monitorTicks: startTicks(b.monitor.pid!) ?? -1, cgroupns: b.cgroupns, ...(pasta ? { pasta: pasta.pid, pastaTicks: pasta.ticks } : {}) }
  c.pidns = pidNamespace(b.pid1)
  c.monitor = b.monitor
  c.state = 'running'
  c.stopped = false
  // the sandbox's own processes must never be the OOM killer's choice: the program that overran is
  for (const pid of [b.monitor.pid!, b.pid1, b.anchor]) {
    try {
      writeFileSync(`/proc/${pid}/oom_score_adj`, '-1000')
    } catch {
      // exited already; the exit handler deals with it
    }
  }
  writeFileSync(join(c.dir, 'state.json'), JSON.stringify(c.pids))
  b.monitor.once('exit', () => {
    if (c.monitor === b.monitor) onExit(c)
  })
}

/** After a restart: re-attaches to a sandbox still running from the recorded pids. */
export async function reattach(c: Capsule, env: HostEnv): Promise<boolean> {
  try {
    c.pids = JSON.parse(await readFile(join(c.dir, 'state.json'), 'utf8')) as Pids
  } catch {
    return false
  }
  if (!alive(c)) {
    c.pids = null
    return false
  }
  c.pidns = pidNamespace(c.pids!.pid1)
  c.state = (await c.cg.frozen()) ? 'paused' : 'running'
  if (c.meta.spec.network && c.meta.spec.network.mode !== 'none' && env.api) await listenApi(c, env)
  return true
}

/**
 * Every host pid that belongs to the capsule: its cgroup members, or (no cgroups)
 * the processes in its pid namespace plus the nestbox-enters entering it.
 */
export async function hostPids(c: Capsule): Promise<number[]> {
  const fromCg = await c.cg.pids()
  if (fromCg.length || c.cg.exists()) return fromCg
  if (!c.pidns) return []
  const forChildren = (pid: number) => {
    try {
      return readlinkSync(`/proc/${pid}/ns/pid_for_children`)
    } catch {
      return null
    }
  }
  return (await readdir('/proc'))
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => pidNamespace(p) === c.pidns || forChildren(p) === c.pidns)
}

/**
 * Kills every process of the capsule (thawing it first: frozen tasks cannot die)
 * and waits until none is left, reaped included; the files stay. Killing pid 1
 * ends the pid namespace; bwrap's monitor then reaps it and exits, and is reaped
 * by us (or, after a restart, by the host's init).
 */
export async function killAll(c: Capsule) {
  c.monitor = null
  if (c.stopped || (await c.cg.frozen())) {
    await c.cg.thaw()
    for (const pid of await hostPids(c)) signal(pid, 'SIGCONT')
  }
  const p = c.pids
  // a zombie is dead already; only its parent's wait() is missing
  const running = (pid: number, ticks: number) => startTicks(pid) === ticks && !isZombie(pid)
  if (p && running(p.pid1, p.pid1Ticks)) signal(p.pid1, 'SIGKILL')
  for (let i = 0; i < 1000; i++) {
    // While pid 1 tears the namespace down, the host-side processes (bwrap's
    // monitor, nestbox-enter) are left alone: each must live to reap its child, or the
    // zombie goes to the host's init, which may reap late, and pid 1 waits for it.
    const pid1Up = !!p && running(p.pid1, p.pid1Ticks)
    const all = await hostPids(c)
    // a waiting parent stopped by job control (nsenter did) is woken, so it can reap
    if (pid1Up) for (const pid of all) if (pidNamespace(pid) !== c.pidns) signal(pid, 'SIGCONT')
    const left = pid1Up ? [] : all
    for (const pid of left) signal(pid, 'SIGKILL')
    if (!pid1Up && !left.length && !(p && running(p.monitor, p.monitorTicks))) break
    if (p && i === 400) signal(p.monitor, 'SIGKILL')
    if (i === 999) throw new Error(`capsule ${c.meta.id}: processes still alive after 5 s of SIGKILL`)
    await new Promise((r) => setTimeout(r, i < 20 ? 1 : 5))
  }
  // the network helper lives outside the capsule's cgroups: it goes with it
  for (const [pid, ticks] of [[p?.pasta, p?.pastaTicks], [p?.slirp, p?.slirpTicks]]) if (pid && startTicks(pid) === ticks) signal(pid, 'SIGKILL')
  c.closeApi?.()
  c.closeApi = null
  c.pids = null
  c.pidns = null
  c.state = 'files-only'
  c.stopped = false
  await rm(join(c.dir, 'state.json'), { force: true })
  for (const f of PASTA_FILES) await rm(join(c.dir, f), { force: true })
}

/** Serves nestbox's API on the capsule's relay socket (again, after a restart of nestbox). */
async function listenApi(c: Capsule, env: HostEnv) {
  c.closeApi?.()
  const sock = join(relayDir(c.dir), 'api.sock')
  rmSync(sock, { force: true })
  c.closeApi = await env.api!(c.meta.id, sock)
  chmodSync(sock, 0o666) // the relay connects as capsule root; the directory (0700, its own) keeps others out
}

async function waitForFile(path: string, timeoutMs: number) {
  for (let waited = 0; !existsSync(path); waited++) {
    if (waited > timeoutMs) throw new Error(`${path} did not appear within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 1))
  }
}

/** Freezes (cgroup freezer) or, without one, stops every process with SIGSTOP. */
export async function freeze(c: Capsule) {
  if (await c.cg.freeze()) return
  // no freezer: stop the tree; repeat until a pass finds nothing new (forks in flight)
  const seen = new Set<number>()
  for (let pass = 0; pass < 5; pass++) {
    const fresh = (await hostPids(c)).filter((p) => !seen.has(p) && pidNamespace(p) === c.pidns)
    if (!fresh.length) break
    for (const p of fresh) {
      seen.add(p)
      signal(p, 'SIGSTOP')
    }
  }
  c.stopped = true
}

export async function thaw(c: Capsule) {
  if (c.stopped) {
    for (const p of await hostPids(c)) signal(p, 'SIGCONT')
    c.stopped = false
  } else await c.cg.thaw()
}

const isZombie = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat[stat.lastIndexOf(')') + 2] === 'Z'
  } catch {
    return true
  }
}

export function signal(pid: number, sig: NodeJS.Signals) {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

export const diskImage = (c: Capsule) => (c.meta.diskMb ? join(c.dir, 'disk.img') : null)
export const hasFiles = (c: Capsule) => existsSync(diskImage(c) ?? c.layer)
