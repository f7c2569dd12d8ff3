/**
 * The process runtime driven directly (no HTTP): create → first `echo ok`, exec
 * round trip, pause + resume, 20 concurrent creates, host memory of idle
 * capsules, and one metrics sampling pass over all of them.
 * Baselines measured in the same run: a host spawn of `sh -c 'echo ok'` (what any
 * exec costs at least) and a bare bubblewrap sandbox running `true` (namespaces,
 * no uid range, no cgroups, no entry into a running capsule).
 * Exec is measured with warm entries (the default) and without (every exec a fresh chain);
 * create → first exec with the syscall filter (the default) and without, alternating.
 * Usage: node test/bench/runtime.ts [--idle 200] [--quick]
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { detectCgroups } from '../../lib/capsules/runtime/cgroups.ts'
import { createProcessRuntime } from '../../lib/capsules/runtime/process.ts'
import type { CapsuleSpec } from '../../lib/capsules/runtime/types.ts'
import { silentLogger } from '../../lib/core/logger.ts'
import { descendantsPss, median, pct, printTable } from './lib/measure.ts'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const IDLE = Number(args[args.indexOf('--idle') + 1]) || (quick ? 50 : 200)
const N = quick ? 15 : 40

const time = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}
const ms = (x: number) => x.toFixed(1)
const meminfo = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024
const memAvailable = () => meminfo('MemAvailable')
/** Kernel-side memory a capsule adds: slab (namespaces, cgroups, mounts), page tables, kernel stacks. */
const kernelMem = () => meminfo('Slab') + meminfo('PageTables') + meminfo('KernelStack')
const memCg = detectCgroups(readFileSync('/proc/self/mountinfo', 'utf8')).controllers.memory
/** What the memory cgroups of these capsules are charged (their processes, kernel objects, page cache they touched). */
const cgroupCharge = (ids: string[]) =>
  memCg
    ? ids.reduce((sum, id) => sum + Number(readFileSync(join(memCg.mount, 'nestbox-bench', id, memCg.version === 1 ? 'memory.usage_in_bytes' : 'memory.current'), 'utf8')), 0)
    : NaN
const run = (cmd: string, argv: string[]) => new Promise<void>((res) => spawn(cmd, argv, { stdio: 'ignore' }).on('close', () => res()))


const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-bench-rt-'))
const rt = createProcessRuntime({ dataDir: join(dataDir, 'runtime'), log: silentLogger, uidBase: 1_500_000_000, cgroupParent: 'nestbox-bench' })
let seq = 0
// a disk of the API's default size (a loop-mounted image, disk.ts)
const spec = (): CapsuleSpec => ({ id: `sb-bench${(seq++).toString(16).padStart(4, '0')}`, template: { name: 'minimal', rootDir: null }, vcpus: 1, memoryMb: 256, diskMb: 5120 })
const echo = (id: string) => rt.exec(id, { cmd: '/bin/sh', args: ['-c', 'echo ok'] })

try {
  // warm up: first boot creates cgroup parents, the page cache holds the binaries
  const warm = spec()
  await rt.create(warm)
  for (let i = 0; i < 5; i++) await echo(warm.id)

  const hostSpawn: number[] = []
  const bareBwrap: number[] = []
  for (let i = 0; i < N; i++) {
    hostSpawn.push(await time(() => run('/bin/sh', ['-c', 'echo ok'])))
    bareBwrap.push(await time(() => run('bwrap', ['--unshare-all', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--proc', '/proc', '--dev', '/dev', '--', '/bin/sh', '-c', 'echo ok'])))
  }

  const createFirst: number[] = []
  const createOnly: number[] = []
  for (let i = 0; i < N; i++) {
    const s = spec()
    const t0 = performance.now()
    await rt.create(s)
    createOnly.push(performance.now() - t0)
    const r = await echo(s.id)
    if (r.stdout.toString() !== 'ok\n') throw new Error(`first exec failed: ${r.stderr}`)
    createFirst.push(performance.now() - t0)
    await rt.destroy(s.id)
  }

  // the syscall filter's cost on create → first exec: alternating with a runtime whose capsules run without it
  const plain = createProcessRuntime({ dataDir: join(dataDir, 'plain'), log: silentLogger, uidBase: 1_500_000_000 + 4100 * 65_536, cgroupParent: 'nestbox-bench', seccomp: false })
  const firstExec = async (r: typeof rt) => {
    const s = spec()
    const t0 = performance.now()
    await r.create(s)
    const out = await r.exec(s.id, { cmd: '/bin/sh', args: ['-c', 'echo ok'] })
    if (out.stdout.toString() !== 'ok\n') throw new Error(`first exec failed: ${out.stderr}`)
    const took = performance.now() - t0
    await r.destroy(s.id)
    return took
  }
  await firstExec(plain)
  const filtered: number[] = []
  const unfiltered: number[] = []
  for (let i = 0; i < N; i++) {
    filtered.push(await firstExec(rt))
    unfiltered.push(await firstExec(plain))
  }
  await plain.shutdown()

  // the disk limit's and the writable system's costs: alternating with runtimes without the one, and without both
  const noDisk = createProcessRuntime({ dataDir: join(dataDir, 'nodisk'), log: silentLogger, uidBase: 1_500_000_000 + 4200 * 65_536, cgroupParent: 'nestbox-bench', diskLimits: false })
  const bare = createProcessRuntime({ dataDir: join(dataDir, 'bare'), log: silentLogger, uidBase: 1_500_000_000 + 4300 * 65_536, cgroupParent: 'nestbox-bench', diskLimits: false, writableSystem: false })
  await firstExec(noDisk)
  await firstExec(bare)
  const limited: number[] = []
  const unlimited: number[] = []
  const readOnly: number[] = []
  for (let i = 0; i < N; i++) {
    limited.push(await firstExec(rt))
    unlimited.push(await firstExec(noDisk))
    readOnly.push(await firstExec(bare))
  }
  await noDisk.shutdown()
  await bare.shutdown()

  // latency as an agent sees it (a command, some thinking, the next one), and back to back
  const execRt: number[] = []
  const execTight: number[] = []
  for (let i = 0; i < N * 3; i++) {
    execRt.push(await time(() => echo(warm.id)))
    await new Promise((r) => setTimeout(r, 20))
  }
  for (let i = 0; i < N * 3; i++) execTight.push(await time(() => echo(warm.id)))

  // the same without warm entries: every exec forks this process and runs the whole entry chain
  const cold = createProcessRuntime({ dataDir: join(dataDir, 'cold'), log: silentLogger, uidBase: 1_500_000_000 + 4000 * 65_536, cgroupParent: 'nestbox-bench', warmEntries: false })
  const coldCapsule = spec()
  await cold.create(coldCapsule)
  const execCold: number[] = []
  for (let i = 0; i < N * 3; i++) {
    execCold.push(await time(() => cold.exec(coldCapsule.id, { cmd: '/bin/sh', args: ['-c', 'echo ok'] })))
    await new Promise((r) => setTimeout(r, 20))
  }
  await cold.destroy(coldCapsule.id)
  await cold.shutdown()

  const pauseResume: number[] = []
  for (let i = 0; i < N; i++) pauseResume.push(await time(async () => {
    await rt.pause(warm.id)
    await rt.resume(warm.id)
  }))

  const concurrent = Array.from({ length: 20 }, spec)
  const t20 = performance.now()
  const each = await Promise.allSettled(concurrent.map((s) => time(async () => {
    await rt.create(s)
    await echo(s.id)
  })))
  const wall20 = performance.now() - t20
  const ok20 = each.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value)
  for (const s of concurrent) await rt.destroy(s.id).catch(() => {})

  printTable('process runtime, driver level (ms)', [
    ['operation', 'p50', 'p95', 'baseline', 'baseline p50', 'ratio p50', 'target p50'],
    ['create → first exec echo ok', ms(median(createFirst)), ms(pct(createFirst, 95)), 'bare bwrap sandbox', ms(median(bareBwrap)), (median(createFirst) / median(bareBwrap)).toFixed(1), '≤ 60'],
    ['  of which create', ms(median(createOnly)), ms(pct(createOnly, 95)), '', '', '', ''],
    ['  with the syscall filter (alternating)', ms(median(filtered)), ms(pct(filtered, 95)), 'without it', ms(median(unfiltered)), (median(filtered) / median(unfiltered)).toFixed(2), ''],
    ['  with disk limit + writable system (alternating)', ms(median(limited)), ms(pct(limited, 95)), 'no disk limit', ms(median(unlimited)), (median(limited) / median(unlimited)).toFixed(2), '≤ 60'],
    ['  no disk limit, host system read-only', ms(median(readOnly)), ms(pct(readOnly, 95)), 'both on', ms(median(limited)), (median(readOnly) / median(limited)).toFixed(2), ''],
    ['exec round trip echo ok (20 ms apart)', ms(median(execRt)), ms(pct(execRt, 95)), 'host spawn sh -c', ms(median(hostSpawn)), (median(execRt) / median(hostSpawn)).toFixed(1), '≤ 10'],
    ['  back to back', ms(median(execTight)), ms(pct(execTight, 95)), 'host spawn sh -c', ms(median(hostSpawn)), (median(execTight) / median(hostSpawn)).toFixed(1), ''],
    ['  without warm entries (20 ms apart)', ms(median(execCold)), ms(pct(execCold, 95)), 'host spawn sh -c', ms(median(hostSpawn)), (median(execCold) / median(hostSpawn)).toFixed(1), ''],
    ['pause + resume', ms(median(pauseResume)), ms(pct(pauseResume, 95)), '', '', '', '≤ 20'],
    [`20 concurrent creates (${ok20.length}/20 ok, wall ${ms(wall20)})`, ms(median(ok20)), ms(pct(ok20, 95)), '', '', '', 'all ok'],
  ])

  const before = memAvailable()
  const kernelBefore = kernelMem()
  const pssBefore = descendantsPss()
  const idle = Array.from({ length: IDLE }, spec)
  const tIdle = performance.now()
  for (const s of idle) await rt.create(s)
  const createIdle = performance.now() - tIdle
  await new Promise((r) => setTimeout(r, 2000))
  const after = memAvailable()
  const kernelAfter = kernelMem()
  const pssAfter = descendantsPss()
  const charged = cgroupCharge(idle.map((s) => s.id))
  const sample = await time(() => Promise.all(idle.map((s) => rt.metrics(s.id))))
  const sample2 = await time(() => Promise.all(idle.map((s) => rt.metrics(s.id))))
  printTable(`${IDLE} idle capsules`, [
    ['measure', 'value', 'target'],
    ['memory cgroup charge per capsule, MiB', (charged / IDLE / 2 ** 20).toFixed(2), '≤ 3'],
    ['PSS of capsule processes per capsule, MiB', ((pssAfter.bytes - pssBefore.bytes) / IDLE / 2 ** 20).toFixed(2), ''],
    ['kernel slab + page tables + stacks per capsule, MiB', ((kernelAfter - kernelBefore) / IDLE / 2 ** 20).toFixed(2), ''],
    ['PSS + kernel per capsule, MiB', ((pssAfter.bytes - pssBefore.bytes + kernelAfter - kernelBefore) / IDLE / 2 ** 20).toFixed(2), '≤ 3'],
    ['host MemAvailable drop per capsule (noisy: shared machine), MiB', ((before - after) / IDLE / 2 ** 20).toFixed(2), ''],
    ['processes per capsule', ((pssAfter.count - pssBefore.count) / IDLE).toFixed(1), ''],
    [`creating all ${IDLE} one after another, s`, (createIdle / 1000).toFixed(1), ''],
    ['metrics pass over all (first, walks every layer), ms', ms(sample), ''],
    ['metrics pass over all (cached disk), ms', ms(sample2), ''],
  ])
  console.log('\nNote: the machine is shared with other work; figures are noisy.')
  for (const s of idle) await rt.destroy(s.id)
  await rt.destroy(warm.id)
} finally {
  await rt.shutdown()
  rmSync(dataDir, { recursive: true, force: true })
}
