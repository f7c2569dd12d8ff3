/**
 * The `process` runtime: each capsule is a set of Linux namespaces made by
 * bubblewrap (sandbox.ts) over its own writable layer (layer.ts; a template is
 * shared under it through an idmapped overlay, overlay.ts), on a disk image of
 * its size (disk.ts), with the host system copy-on-write over it (system.ts; the
 * mounts: root.ts, mounter.ts), in cgroups with its limits (cgroups.ts), with a
 * uid range of its own (uids.ts). There is no agent
 * inside: exec, PTY and file operations enter the running capsule through nestbox-enter
 * (enter.ts, launch.ts), with one entry kept waiting while a capsule is in use
 * (warm.ts). An idle capsule costs three sleeping processes.
 */
import { lstatSync, mkdirSync, readdirSync, renameSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { conflict, invalid, notFound } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { alive, boot, diskImage, freeze, hasFiles, hostPids, killAll, newCapsule, readMeta, reattach, signal, thaw, writeMeta, type ApiListener, type Capsule, type HostEnv } from './capsule.ts'
import { createCgroups, type CgroupPreference } from './cgroups.ts'
import { CWD_FAILED } from './enter.ts'
import { nsPid, runForeground, startBackground, type BackgroundProcess } from './exec.ts'
import { hostView, isDir } from './host-view.ts'
import { createDisks, DISK_MOUNT, disksSupported, imageBytes, usedBytes } from './disk.ts'
import { copyTree, createDiskMeter, toHost } from './layer.ts'
import { snapshotCapsule } from './snapshot.ts'
import { slug, systemView } from './system.ts'
import { systemUpper } from './root.ts'
import { createLauncher } from './launch.ts'
import { connectPort, joinSockets, openPort } from './network.ts'
import { createFdBroker } from './fd-broker.ts'
import { enterHelperPath } from './enter-helper.ts'
import { listCapsuleProcs } from './proc-table.ts'
import { writeSeccompFilter } from './seccomp.ts'
import { BINDS_MOUNT, closeInheritedFds, LAYER_MOUNT, MAX_BINDS, RELAY_MOUNT } from './sandbox.ts'
import { startPty } from './pty.ts'
import type { CapsuleSpec, ExecRequest, Runtime } from './types.ts'
import { overlaySafePath, overlaySupported } from './overlay.ts'
import { createUidSlots } from './uids.ts'
import { createWarmPool } from './warm.ts'
import { mountIn } from './mounter.ts'

export type ProcessRuntimeOptions = {
  /** Where this runtime keeps capsule layers and records (created 0700). */
  dataDir: string
  log: Logger
  uidBase?: number
  uidRange?: number
  maxCapsules?: number
  pidsMax?: number
  cgroupParent?: string
  cgroupVersion?: CgroupPreference
  /** On nestbox shutdown: stop capsules keeping their files, or leave them running to re-attach. */
  onShutdown?: 'stop' | 'keep'
  /** Host paths a capsule sees read-only (directories are bound, links recreated). */
  hostPaths?: string[]
  /** Host paths hidden under an empty tmpfs when they lie inside an exposed directory. */
  hidePaths?: string[]
  bootTimeoutMs?: number
  /** Share templates through an idmapped overlayfs where the host supports it (default), or give each capsule a copy. */
  overlayTemplates?: boolean
  /** Keep an entry chain waiting in capsules in use (default), or start one per exec (warm.ts). */
  warmEntries?: boolean
  /** Run every capsule process under the syscall filter (seccomp.ts; default), or without one. */
  seccomp?: boolean
  /** Serves nestbox's API to capsules in network modes nestbox and internet (network.ts); without it they reach nothing. */
  api?: ApiListener
  /** Give each capsule a disk image of its spec's diskMb where the host can loop-mount one (default), or keep its files in the data dir, unlimited (disk.ts). */
  diskLimits?: boolean
  /** Let capsules change the host system directories copy-on-write where the host supports it (default), or bind them read-only (system.ts). */
  writableSystem?: boolean
}

const PROC_RETAIN_MS = 60_000
/** A capsule without exec for this long gives its warm entry up (warm.ts). */
const WARM_IDLE_MS = 30_000

export function createProcessRuntime(opts: ProcessRuntimeOptions): Runtime {
  const log = opts.log.child({ runtime: 'process' })
  const dataDir = resolve(opts.dataDir)
  const capsulesDir = join(dataDir, 'capsules')
  mkdirSync(capsulesDir, { recursive: true, mode: 0o700 })
  mkdirSync(LAYER_MOUNT, { recursive: true, mode: 0o755 })
  mkdirSync(RELAY_MOUNT, { recursive: true, mode: 0o755 })
  for (let i = 0; i < MAX_BINDS; i++) mkdirSync(join(BINDS_MOUNT, String(i)), { recursive: true, mode: 0o755 })
  const leaked = closeInheritedFds()
  if (leaked.length) log.warn('closed descriptors inherited without close-on-exec, so capsules cannot inherit them', { fds: leaked })

  const slots = createUidSlots({ uidBase: opts.uidBase ?? 1_000_000, uidRange: opts.uidRange ?? 65_536, maxCapsules: opts.maxCapsules ?? 4096, owner: dataDir })
  const view = hostView(dataDir, opts.hostPaths, opts.hidePaths)
  const cgroups = createCgroups({ parent: opts.cgroupParent ?? 'nestbox', prefer: opts.cgroupVersion ?? 'auto', warn: (m, f) => log.warn(m, f) })
  let stopWatching = () => {}
  const env: HostEnv = {
    log,
    range: slots.range,
    pidsMax: opts.pidsMax ?? 1024,
    ...view,
    bootTimeoutMs: opts.bootTimeoutMs ?? 10_000,
    // written once per start: bwrap and nestbox-enter read it as host root
    seccomp: opts.seccomp === false ? undefined : writeSeccompFilter(join(dataDir, 'seccomp.bpf')),
    api: opts.api,
    system: opts.writableSystem === false ? Promise.resolve(null) : systemView({ dataDir, capsulesDir, view, log, onStop: (stop) => (stopWatching = stop) }),
  }
  mkdirSync(DISK_MOUNT, { recursive: true, mode: 0o755 })
  /** Boots under way: spare disks are made once there are none. */
  /** Boots under way: spare disks are made between them, and a shutdown waits for them (a capsule booting then would be left running). */
  const boots = new Set<Promise<unknown>>()
  const disks = createDisks({ dir: join(dataDir, 'disk-spares'), onError: (err) => log.warn('making a spare capsule disk failed', { err }), busy: () => boots.size > 0 })
  const withDisks = opts.diskLimits === false ? Promise.resolve(false) : disksSupported()
  void withDisks.then((ok) => ok || log.warn('capsule disk limits are not enforced: this host cannot loop-mount an ext4 image'))

  /** Capsules this runtime knows: booted, paused, or files kept on disk. */
  const capsules = new Map<string, Capsule>()
  const load = (id: string): Capsule | null => {
    const have = capsules.get(id)
    if (have) return have
    const dir = join(capsulesDir, id)
    const meta = readMeta(dir)
    if (!meta) return null
    const c = newCapsule(meta, dir, slots.base(meta.slot), cgroups.of(id))
    capsules.set(id, c)
    return c
  }
  // slots stay taken by every capsule whose files exist, running or not
  for (const id of readdirSync(capsulesDir)) {
    const meta = readMeta(join(capsulesDir, id))
    if (meta) slots.claim(meta.slot)
  }

  const get = (id: string) => {
    const c = load(id)
    if (!c) throw notFound(`capsule ${id} not found in the process runtime`, 'capsule_not_found')
    return c
  }
  /** The capsule, running (not paused, not stopped) and still the sandbox we booted. */
  const running = (id: string) => {
    const c = get(id)
    if (c.state === 'running' && !alive(c)) died(c)
    if (c.state === 'paused') throw conflict(`capsule ${id} is paused`, 'capsule_paused')
    if (c.state !== 'running') throw conflict(`capsule ${id} is not running (its files are kept; resume boots it again)`, 'capsule_not_running')
    return c
  }
  /** Cleanups started on their own (a sandbox that died): whatever boots or removes the capsule next waits for them. */
  const settling = new Map<string, Promise<void>>()
  const settled = (id: string) => settling.get(id) ?? Promise.resolve()
  const died = (c: Capsule) => {
    if (c.state === 'files-only') return
    log.warn('capsule sandbox exited on its own; its files are kept', { capsule: c.meta.id })
    c.state = 'files-only'
    warm.retire(c.meta.id)
    const id = c.meta.id
    const p = killAll(c)
      .catch((err) => log.error('cleanup after capsule exit failed', { capsule: id, err }))
      .finally(() => settling.get(id) === p && settling.delete(id))
    settling.set(id, p)
  }
  /** Boots `c`; `firstExecs` (a create's CapsuleSpec.firstExecs) announces execs to follow back to back. */
  const startSandbox = async (c: Capsule, firstExecs?: number) => {
    // the first exec usually follows a create at once: its entry starts entering while the boot goes on
    const b = boot(c, env, died, { starting: (files) => launcher.primeStarting(c.meta.id, files), entered: (t) => launcher.primeBooting(t, firstExecs) })
    boots.add(b)
    try {
      await b
    } catch (err) {
      warm.retire(c.meta.id) // an entry started during the boot waits for a capsule that will not come
      throw err
    } finally {
      boots.delete(b)
    }
    launcher.prime(c)
  }

  const warm = createWarmPool({ idleMs: WARM_IDLE_MS, enabled: opts.warmEntries !== false })
  const launcher = createLauncher({ warm, uidRange: slots.range, seccomp: env.seccomp })
  const broker = createFdBroker(enterHelperPath(), opts.log)
  const fsOf = launcher.files

  const disk = createDiskMeter()
  const forget = (c: Capsule, p: BackgroundProcess) =>
    void p.exited.then(() => setTimeout(() => c.procs.get(p.pid) === p && c.procs.delete(p.pid), PROC_RETAIN_MS).unref())

  const checkBinds = (binds: NonNullable<CapsuleSpec['binds']>) => {
    if (binds.length > MAX_BINDS) throw invalid(`a capsule takes at most ${MAX_BINDS} binds`)
    for (const b of binds) if (!isDir(b.source) || !/^\/[^\0\n]+$/.test(b.path) || b.path.split('/').includes('..')) throw invalid(`bind ${b.source} → ${b.path}: the source must be a host directory and the path absolute`)
  }

  const runtime: Runtime = {
    name: 'process',

    async create(spec: CapsuleSpec) {
      if (!/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/.test(spec.id)) throw invalid('capsule id must be 1-64 letters, digits, ., _ or -')
      checkBinds(spec.binds ?? [])
      await settled(spec.id)
      let c = load(spec.id)
      if (c && c.state !== 'files-only') throw conflict(`capsule ${spec.id} already exists`, 'already_exists')
      if (!c) {
        const slot = slots.take()
        c = newCapsule({ id: spec.id, slot, spec, createdAt: Date.now() }, join(capsulesDir, spec.id), slots.base(slot), cgroups.of(spec.id))
        capsules.set(spec.id, c)
        const src = spec.template.rootDir
        const tree = src && (isDir(join(src, 'fs')) ? join(src, 'fs') : src)
        // share the template through overlayfs where the host can; otherwise the capsule gets its own copy
        if (tree && opts.overlayTemplates !== false && overlaySafePath(tree) && overlaySafePath(c.dir) && (await overlaySupported())) c.meta.lower = tree
        // a template copied into the layer is copied on the host: such a capsule keeps its files in its directory
        if (spec.diskMb && (!tree || c.meta.lower) && (await withDisks)) c.meta.diskMb = spec.diskMb
        writeMeta(c)
        if (c.meta.diskMb) await disks.make(join(c.dir, 'disk.img'), c.meta.diskMb)
        if (tree && !c.meta.lower) {
          await copyTree(tree, c.layer, toHost(c.base, slots.range), { stripSetid: false })
          // the template's changes to the host system become the capsule's own (its removals, whiteouts, are not copied)
          for (const dir of (await env.system)?.dirs ?? []) {
            const copied = join(c.layer, dir)
            if (!lstatSync(copied, { throwIfNoEntry: false })?.isDirectory() || !readdirSync(copied).length) continue
            mkdirSync(join(c.dir, 'host', slug(dir)), { recursive: true, mode: 0o700 })
            renameSync(copied, systemUpper(c.dir, dir))
          }
        }
      } else {
        c.meta.spec = spec
        writeMeta(c)
      }
      await startSandbox(c, spec.firstExecs)
    },

    async attach(id, bind) {
      const c = running(id)
      const binds = [...(c.meta.spec.binds ?? []), bind]
      checkBinds(binds)
      await mountIn(c.pids!.pid1, [['attach', bind.source, bind.path]])
      // a boot again (resume, restart) binds it as it binds the create's
      c.meta.spec = { ...c.meta.spec, binds }
      writeMeta(c)
    },

    async destroy(id) {
      await settled(id)
      const c = load(id)
      if (!c) return
      warm.retire(id)
      for (const p of c.procs.values()) p.kill('SIGKILL')
      await killAll(c)
      await c.cg.remove()
      await rm(c.dir, { recursive: true, force: true })
      slots.release(c.meta.slot)
      capsules.delete(id)
    },

    async pause(id) {
      const c = get(id)
      if (c.state === 'paused') return
      await freeze(running(id))
      c.state = 'paused'
    },

    async resume(id) {
      await settled(id)
      const c = get(id)
      if (c.state === 'running' && alive(c)) return
      if (c.state === 'paused' && alive(c)) {
        await thaw(c)
        c.state = 'running'
        return
      }
      // stopped with its files kept (restart, or its init died): boot it again over the same layer
      if (!hasFiles(c)) throw conflict(`capsule ${id} has no files left to resume from`, 'capsule_not_running')
      await killAll(c)
      await startSandbox(c)
    },

    async snapshot(id, destRootDir) {
      await snapshotCapsule(get(id), destRootDir, { system: await env.system, range: slots.range })
    },

    async exec(id, req) {
      const c = running(id)
      const r = await runForeground(launcher.launch(c, req), { timeoutMs: req.timeoutMs, stdin: req.stdin })
      if (r.exitCode === 125 && CWD_FAILED.test(r.stderr.toString())) throw invalid(`cwd ${req.cwd} does not exist in capsule ${id}`, 'invalid_cwd')
      return r
    },

    async connectPort(id, port) {
      return connectPort(running(id).dir, port)
    },

    openPort(id, port) {
      return openPort(running(id).dir, port)
    },

    async splicePort(id, port) {
      const dir = running(id).dir
      if (await broker.available()) {
        const conn = await connectPort(dir, port, undefined, true)
        return (client, prefix) => void broker.pass(client, conn, prefix).catch((err) => opts.log.warn('capsule port connection lost', { id, port, err }))
      }
      const up = await connectPort(dir, port)
      return (client, prefix) => joinSockets(up, client, prefix)
    },

    async spawn(id, req) {
      const c = running(id)
      if (req.tag && [...c.procs.values()].some((p) => p.tag === req.tag)) throw conflict(`a process tagged "${req.tag}" already exists`, 'already_exists')
      const p = await startBackground(launcher.launch(c, req), { tag: req.tag ?? null, cmd: req.cmd, args: req.args ?? [] })
      c.procs.set(p.pid, p)
      forget(c, p)
      return p
    },

    async listProcesses(id) {
      const c = running(id)
      const infra = [1, ...(c.pids ? [nsPid(c.pids.anchor) ?? -1] : [])]
      const waiting = warm.idleHostPids(id)
      const entries = (await listCapsuleProcs(await hostPids(c), c.pidns ?? '', infra)).filter((e) => !waiting.includes(e.hostPid))
      return entries.map((e) => ({ pid: e.pid, tag: c.procs.get(e.pid)?.tag ?? null, cmd: e.cmd, args: e.args, startedAt: e.startedAt }))
    },

    getProcess(id, sel) {
      const c = capsules.get(id)
      if (!c) return null
      if (sel.pid !== undefined) return c.procs.get(sel.pid) ?? null
      if (sel.tag !== undefined) return [...c.procs.values()].find((p) => p.tag === sel.tag) ?? null
      return null
    },

    async killProcess(id, pid, sig) {
      const c = running(id)
      const infra = [1, ...(c.pids ? [nsPid(c.pids.anchor) ?? -1] : [])]
      const e = (await listCapsuleProcs(await hostPids(c), c.pidns ?? '', infra)).find((x) => x.pid === pid)
      if (!e) return false
      signal(e.hostPid, sig)
      return true
    },

    async pty(id, req) {
      const c = running(id)
      return startPty(launcher.ptyArgv(c, req), { cols: req.cols, rows: req.rows })
    },

    readFile: (id, path) => fsOf(running(id)).readFile(path),
    writeFile: (id, path, data, o) => fsOf(running(id)).writeFile(path, data, o),
    list: (id, path, depth) => fsOf(running(id)).list(path, depth),
    stat: (id, path) => fsOf(running(id)).stat(path),
    mkdir: (id, path) => fsOf(running(id)).mkdir(path),
    remove: (id, path) => fsOf(running(id)).remove(path),

    async metrics(id) {
      const c = get(id)
      const usage = c.state === 'files-only' ? { cpuUsec: 0, memBytes: 0 } : await c.cg.usage().catch(() => ({ cpuUsec: 0, memBytes: 0 }))
      const image = diskImage(c)
      // a disk image: what its filesystem holds (statfs, through the running capsule's root), else what the image takes
      const diskBytes = !image ? await disk.measure(c.disk, c.layer) : c.state !== 'files-only' && alive(c) ? await usedBytes(`/proc/${c.pids!.pid1}/root/`).catch(() => imageBytes(image)) : imageBytes(image)
      return { ...usage, diskBytes }
    },

    async recover(ids) {
      const out: Record<string, 'running' | 'paused' | 'files-only' | 'gone'> = {}
      for (const id of ids) {
        const c = load(id)
        if (!c) {
          out[id] = 'gone'
          continue
        }
        if (c.state !== 'files-only' && alive(c)) {
          out[id] = c.state
          continue
        }
        if (await reattach(c, env)) {
          out[id] = c.state
          log.info('capsule re-attached', { capsule: id, state: c.state })
          continue
        }
        await killAll(c)
        await c.cg.remove().catch(() => {})
        out[id] = hasFiles(c) ? 'files-only' : 'gone'
      }
      return out
    },

    async shutdown() {
      stopWatching()
      await Promise.allSettled([...boots])
      broker.close()
      const live = [...capsules.values()].filter((c) => c.state !== 'files-only')
      if ((opts.onShutdown ?? 'stop') === 'keep') {
        for (const c of live) {
          c.monitor?.removeAllListeners('exit')
          c.monitor?.unref()
          for (const s of c.monitor?.stdio ?? []) (s as { unref?: () => void } | null)?.unref?.()
          // the next start serves the API socket again (reattach)
          c.closeApi?.()
          c.closeApi = null
        }
        return
      }
      await Promise.allSettled(
        live.map(async (c) => {
          for (const p of c.procs.values()) p.kill('SIGKILL')
          await killAll(c)
          await c.cg.remove()
        }),
      )
    },

    status(id) {
      const c = load(id)
      if (!c) return 'gone'
      if (c.state !== 'files-only' && !alive(c)) died(c)
      return c.state === 'files-only' && !hasFiles(c) ? 'gone' : c.state
    },
  }
  return runtime
}
