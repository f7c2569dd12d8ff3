/**
 * Cgroup layouts the test machine does not have (it runs a v1/v2 hybrid): a pure
 * v2 host and a v1 host with cpu,cpuacct co-mounted, over scratch directories
 * standing in for the cgroup filesystems. Checks which files get which limits.
 * (The real hierarchies are exercised by the other runtime tests.)
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCgroups, detectCgroups } from '../../lib/capsules/runtime/cgroups.ts'

const root = mkdtempSync(join(tmpdir(), 'nestbox-cg-'))
test.after(() => rmSync(root, { recursive: true, force: true }))

const line = (n: number, mount: string, fs: string, opts: string) => `${n} 1 0:${n} / ${mount} rw,relatime - ${fs} ${fs} ${opts}`
const touch = (dir: string, files: Record<string, string>) => {
  mkdirSync(dir, { recursive: true })
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), v)
}
const read = (p: string) => readFileSync(p, 'utf8')

test('pure cgroup v2: controllers enabled down the parent chain, limits in cpu.max / memory.max / pids.max, cgroup.freeze', async () => {
  const v2 = join(root, 'v2')
  touch(v2, { 'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc', 'cgroup.subtree_control': 'memory' })
  touch(join(v2, 'nestbox'), { 'cgroup.subtree_control': '' })
  const mountinfo = line(30, v2, 'cgroup2', 'rw,nsdelegate')
  const layout = detectCgroups(mountinfo, 'auto', (p) => read(p))
  for (const c of ['cpu', 'cpuacct', 'memory', 'pids', 'freezer'] as const) assert.equal(layout.controllers[c], { mount: v2, version: 2 }, c)
  const warnings: string[] = []
  const cgs = createCgroups({ parent: 'nestbox', warn: (m) => warnings.push(m), mountinfo })
  const cg = cgs.of('sb-1')
  // a real cgroupfs makes these files with the directory; the scratch one needs them made
  touch(join(v2, 'nestbox', 'sb-1'), { 'cpu.max': '', 'memory.max': '', 'memory.swap.max': '', 'pids.max': '', 'cgroup.freeze': '0', 'cgroup.events': 'populated 1\nfrozen 1\n' })
  cg.create({ vcpus: 2, memoryBytes: 512 << 20, pidsMax: 100 })
  assert.equal(warnings, [])
  assert.equal(cg.procsFiles, [join(v2, 'nestbox', 'sb-1', 'cgroup.procs')])
  assert.is(read(join(v2, 'cgroup.subtree_control')), '+cpu +pids', 'only the missing controllers are added at the root')
  assert.is(read(join(v2, 'nestbox', 'cgroup.subtree_control')), '+cpu +memory +pids')
  assert.is(read(join(v2, 'nestbox', 'sb-1', 'cpu.max')), '200000 100000')
  assert.is(read(join(v2, 'nestbox', 'sb-1', 'memory.max')), String(512 << 20))
  assert.is(read(join(v2, 'nestbox', 'sb-1', 'memory.swap.max')), '0')
  assert.is(read(join(v2, 'nestbox', 'sb-1', 'pids.max')), '100')
  assert.is(await cg.freeze(), true)
  assert.is(read(join(v2, 'nestbox', 'sb-1', 'cgroup.freeze')), '1')
  await cg.thaw()
  assert.is(read(join(v2, 'nestbox', 'sb-1', 'cgroup.freeze')), '0')
  writeFileSync(join(v2, 'nestbox', 'sb-1', 'cpu.stat'), 'usage_usec 12345\nuser_usec 1\n')
  writeFileSync(join(v2, 'nestbox', 'sb-1', 'memory.current'), '3000000')
  writeFileSync(join(v2, 'nestbox', 'sb-1', 'memory.stat'), 'anon 1\ninactive_file 1000000\n')
  writeFileSync(join(v2, 'nestbox', 'sb-1', 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n')
  assert.equal(await cg.usage(), { cpuUsec: 12345, memBytes: 2_000_000 })
  assert.is(await cg.oomKills(), 1)
})

test('cgroup v1 with cpu,cpuacct co-mounted and no pids controller: what exists is used, the rest is reported', async () => {
  const v1 = join(root, 'v1')
  const mountinfo = [line(31, join(v1, 'cpu,cpuacct'), 'cgroup', 'rw,cpu,cpuacct'), line(32, join(v1, 'memory'), 'cgroup', 'rw,memory'), line(33, join(v1, 'freezer'), 'cgroup', 'rw,freezer')].join('\n')
  const warnings: string[] = []
  const cgs = createCgroups({ parent: 'nestbox', prefer: 'v1', warn: (m) => warnings.push(m), mountinfo })
  assert.equal(cgs.layout.controllers.cpu, cgs.layout.controllers.cpuacct)
  assert.is(warnings.length, 1, 'the missing pids controller is reported once')
  const cg = cgs.of('sb-2')
  touch(join(v1, 'cpu,cpuacct', 'nestbox', 'sb-2'), { 'cpu.cfs_period_us': '', 'cpu.cfs_quota_us': '' })
  touch(join(v1, 'memory', 'nestbox', 'sb-2'), { 'memory.limit_in_bytes': '', 'memory.swappiness': '' })
  cg.create({ vcpus: 1, memoryBytes: 64 << 20, pidsMax: 10 })
  assert.is(read(join(v1, 'cpu,cpuacct', 'nestbox', 'sb-2', 'cpu.cfs_quota_us')), '100000')
  assert.is(read(join(v1, 'memory', 'nestbox', 'sb-2', 'memory.limit_in_bytes')), String(64 << 20))
  assert.is(read(join(v1, 'memory', 'nestbox', 'sb-2', 'memory.swappiness')), '0')
  assert.equal(cg.procsFiles.sort(), ['cpu,cpuacct', 'freezer', 'memory'].map((d) => join(v1, d, 'nestbox', 'sb-2', 'cgroup.procs')))
})

test("'none': no cgroups at all (pause falls back to stopping processes)", () => {
  const cgs = createCgroups({ parent: 'nestbox', prefer: 'none', warn: () => {}, mountinfo: line(30, '/sys/fs/cgroup', 'cgroup2', 'rw') })
  assert.equal(cgs.layout.controllers, {})
  assert.equal(cgs.of('sb-3').procsFiles, [])
})

test.run()
