/**
 * Capsule cgroups on cgroup v1, v2 or a hybrid of both: one directory per capsule
 * under `<hierarchy>/<parent>/<id>` for each controller in use. Limits (cpu quota,
 * memory, pids, v1 device allowlist), membership (the files a process writes its
 * pid to before entering a capsule), freezing and the counters metrics read.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { readFile, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export type Controller = 'cpu' | 'cpuacct' | 'memory' | 'pids' | 'freezer' | 'devices'
type Hierarchy = { mount: string; version: 1 | 2 }
export type CgroupLayout = { controllers: Partial<Record<Controller, Hierarchy>>; unified: string | null }

/** 'none' ignores cgroups entirely (no limits; pause stops processes with SIGSTOP): for hosts without them, and tests. */
export type CgroupPreference = 'auto' | 'v1' | 'v2' | 'none'
export type Limits = { vcpus: number; memoryBytes: number; pidsMax: number }
export type Usage = { cpuUsec: number; memBytes: number }

const WANTED: Controller[] = ['cpu', 'cpuacct', 'memory', 'pids', 'freezer', 'devices']
/** Devices a capsule may open (v1 allowlist): null, zero, full, random, urandom, tty, ptmx, pts. */
const DEVICE_ALLOW = ['c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:2 rwm', 'c 136:* rwm']

/** Reads /proc/self/mountinfo: which hierarchy serves each controller (v1 first, then v2). */
export function detectCgroups(mountinfo: string, prefer: CgroupPreference = 'auto', readText = (p: string) => readFileSync(p, 'utf8')): CgroupLayout {
  const controllers: CgroupLayout['controllers'] = {}
  let unified: string | null = null
  if (prefer === 'none') return { controllers, unified }
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ')
    if (!post) continue
    const mount = pre.split(' ')[4]?.replace(/\\040/g, ' ')
    const [fstype, , superOpts = ''] = post.split(' ')
    if (fstype === 'cgroup2') unified = mount
    if (fstype !== 'cgroup' || prefer === 'v2') continue
    for (const opt of superOpts.split(',')) if ((WANTED as string[]).includes(opt)) controllers[opt as Controller] ??= { mount, version: 1 }
  }
  if (unified && prefer !== 'v1') {
    let available: string[] = []
    try {
      available = readText(join(unified, 'cgroup.controllers')).trim().split(/\s+/)
    } catch {
      // no cgroup.controllers: not a usable v2 hierarchy
    }
    const v2: Hierarchy = { mount: unified, version: 2 }
    for (const c of ['cpu', 'memory', 'pids'] as const) if (!controllers[c] && available.includes(c)) controllers[c] = v2
    // v2 has CPU time in cpu.stat and freezing in cgroup.freeze without any controller.
    controllers.cpuacct ??= v2
    controllers.freezer ??= v2
  }
  return { controllers, unified }
}

/** `mountinfo` defaults to this process's; tests pass a made-up one over a scratch directory. */
export function createCgroups(opts: { parent: string; prefer?: CgroupPreference; warn: (msg: string, f?: Record<string, unknown>) => void; mountinfo?: string }) {
  const layout = detectCgroups(opts.mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8'), opts.prefer ?? 'auto')
  const { controllers } = layout
  const hierarchies = [...new Map(Object.values(controllers).map((h) => [h.mount, h])).values()]
  const dirOf = (h: Hierarchy, id: string) => join(h.mount, opts.parent, id)
  const missing = WANTED.filter((c) => c !== 'devices' && !controllers[c])
  if (missing.length) opts.warn('capsule cgroup controllers unavailable; those limits are not enforced (pause stops processes instead of freezing)', { missing })

  /** v2 only distributes a controller to children listed in every ancestor's subtree_control. */
  function enableV2(mount: string) {
    const wanted = (['cpu', 'memory', 'pids'] as const).filter((c) => controllers[c]?.mount === mount && controllers[c]?.version === 2)
    if (!wanted.length) return
    let dir = mount
    for (const part of ['', ...opts.parent.split('/')]) {
      dir = part ? join(dir, part) : dir
      mkdirSync(dir, { recursive: true })
      const have = readFileSync(join(dir, 'cgroup.subtree_control'), 'utf8').split(/\s+/)
      const add = wanted.filter((c) => !have.includes(c))
      if (add.length) writeFileSync(join(dir, 'cgroup.subtree_control'), add.map((c) => `+${c}`).join(' '))
    }
  }
  let prepared = false
  function prepare() {
    if (prepared) return
    for (const h of hierarchies) {
      mkdirSync(join(h.mount, opts.parent), { recursive: true })
      try {
        if (h.version === 2) enableV2(h.mount)
      } catch (err) {
        // e.g. a delegated subtree whose root still holds processes: run without those limits
        opts.warn('could not enable cgroup v2 controllers for capsules; their limits are not enforced', { err })
      }
    }
    prepared = true
  }

  return {
    layout,
    /** The cgroup of one capsule (its directories may not exist yet). */
    of(id: string) {
      return capsuleCgroup(id, controllers, hierarchies, dirOf, prepare)
    },
  }
}

function capsuleCgroup(id: string, controllers: CgroupLayout['controllers'], hierarchies: Hierarchy[], dirOf: (h: Hierarchy, id: string) => string, prepare: () => void) {
  const dir = (c: Controller) => (controllers[c] ? dirOf(controllers[c]!, id) : null)
  const v = (c: Controller) => controllers[c]?.version
  const dirs = hierarchies.map((h) => dirOf(h, id))
  const read = (c: Controller, file: string) => readFile(join(dir(c)!, file), 'utf8')

  async function pidsOf(): Promise<number[]> {
    const d = dir('pids') ?? dir('memory') ?? dirs[0]
    if (!d) return []
    try {
      return (await readFile(join(d, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean).map(Number)
    } catch {
      return []
    }
  }

  return {
    /** Files a process writes its own pid to, to join every hierarchy of this capsule. */
    procsFiles: dirs.map((d) => join(d, 'cgroup.procs')),
    exists: () => dirs.length > 0 && dirs.every((d) => existsSync(d)),

    /** Creates the directories and writes the limits. Synchronous: a handful of tiny writes. */
    create(l: Limits) {
      prepare()
      for (const d of dirs) mkdirSync(d, { recursive: true })
      const set = (c: Controller, file: string, value: string) => {
        const d = dir(c)
        if (d && existsSync(join(d, file))) writeFileSync(join(d, file), value)
      }
      const period = 100_000
      if (v('cpu') === 1) {
        set('cpu', 'cpu.cfs_period_us', String(period))
        set('cpu', 'cpu.cfs_quota_us', String(Math.round(l.vcpus * period)))
      } else set('cpu', 'cpu.max', `${Math.round(l.vcpus * period)} ${period}`)
      if (v('memory') === 1) {
        set('memory', 'memory.limit_in_bytes', String(l.memoryBytes))
        set('memory', 'memory.memsw.limit_in_bytes', String(l.memoryBytes))
        set('memory', 'memory.swappiness', '0')
      } else {
        set('memory', 'memory.max', String(l.memoryBytes))
        set('memory', 'memory.swap.max', '0')
      }
      set('pids', 'pids.max', String(l.pidsMax))
      if (v('devices') === 1) {
        set('devices', 'devices.deny', 'a')
        for (const rule of DEVICE_ALLOW) set('devices', 'devices.allow', rule)
      }
    },

    pids: pidsOf,

    /** Freezes every process; false when this host has no freezer (the caller stops the tree instead). */
    async freeze(): Promise<boolean> {
      const d = dir('freezer')
      if (!d) return false
      if (v('freezer') === 1) {
        await writeFile(join(d, 'freezer.state'), 'FROZEN')
        for (let i = 0; i < 2000; i++) {
          if ((await readFile(join(d, 'freezer.state'), 'utf8')).trim() === 'FROZEN') return true
          await new Promise((r) => setTimeout(r, i < 20 ? 0 : 1))
        }
        throw new Error('the capsule did not freeze within 2 s')
      }
      await writeFile(join(d, 'cgroup.freeze'), '1')
      for (let i = 0; i < 2000; i++) {
        if (/^frozen 1$/m.test(await readFile(join(d, 'cgroup.events'), 'utf8'))) return true
        await new Promise((r) => setTimeout(r, i < 20 ? 0 : 1))
      }
      throw new Error('the capsule did not freeze within 2 s')
    },

    async thaw(): Promise<boolean> {
      const d = dir('freezer')
      if (!d || !existsSync(d)) return false
      if (v('freezer') === 1) await writeFile(join(d, 'freezer.state'), 'THAWED')
      else await writeFile(join(d, 'cgroup.freeze'), '0')
      return true
    },

    async frozen(): Promise<boolean> {
      const d = dir('freezer')
      if (!d) return false
      try {
        if (v('freezer') === 1) return (await readFile(join(d, 'freezer.state'), 'utf8')).trim() !== 'THAWED'
        return /^frozen 1$/m.test(await readFile(join(d, 'cgroup.events'), 'utf8'))
      } catch {
        return false
      }
    },

    /** CPU time and memory in use (minus reclaimable page cache), from the kernel's counters. */
    async usage(): Promise<Usage> {
      let cpuUsec = 0
      let memBytes = 0
      if (v('cpuacct') === 1) cpuUsec = Math.floor(Number(await read('cpuacct', 'cpuacct.usage')) / 1000)
      else if (v('cpuacct') === 2) cpuUsec = Number(/^usage_usec (\d+)/m.exec(await read('cpuacct', 'cpu.stat'))?.[1] ?? 0)
      if (v('memory')) {
        const stat = await read('memory', 'memory.stat')
        const inactive = Number(/^(?:total_)?inactive_file (\d+)/m.exec(stat)?.[1] ?? 0)
        const used = Number(await read('memory', v('memory') === 1 ? 'memory.usage_in_bytes' : 'memory.current'))
        memBytes = Math.max(0, used - inactive)
      }
      return { cpuUsec, memBytes }
    },

    /** How many times the kernel's OOM killer fired inside this capsule. */
    async oomKills(): Promise<number> {
      if (!v('memory')) return 0
      const text = await read('memory', v('memory') === 1 ? 'memory.oom_control' : 'memory.events').catch(() => '')
      return Number(/^oom_kill (\d+)/m.exec(text)?.[1] ?? 0)
    },

    /** Removes the directories; they must hold no process any more. */
    async remove(): Promise<void> {
      for (const d of dirs) {
        for (let i = 0; ; i++) {
          try {
            await rmdir(d)
            break
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code
            if (code === 'ENOENT') break
            // EBUSY while the last killed tasks are still being torn down
            if (code !== 'EBUSY' || i > 200) throw err
            await new Promise((r) => setTimeout(r, 5))
          }
        }
      }
    },
  }
}
export type CapsuleCgroup = ReturnType<typeof capsuleCgroup>
