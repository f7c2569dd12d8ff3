/**
 * The process runtime's lifecycle driven directly: pause really freezes (cgroup
 * v1 freezer, v2 cgroup.freeze, SIGSTOP without cgroups), snapshots keep files
 * with their owners, destroy leaves nothing on the host, and a restarted nestbox
 * re-attaches running capsules or finds their files.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { detectCgroups } from '../../lib/capsules/runtime/cgroups.ts'
import type { Runtime } from '../../lib/capsules/runtime/types.ts'
import { liveProcesses, sh, sleep, spec, testRuntime } from './runtime-helpers.ts'

const t = testRuntime()
const { rt } = t
const layerOf = (dataDir: string, id: string) => join(dataDir, 'runtime', 'capsules', id, 'layer')

test.after(() => t.close())

/** Live host processes owned by a uid of the range starting at `base`. */
const survivors = (base: number): string[] =>
  liveProcesses()
    .filter((p) => {
      const uid = Number(/^Uid:\s+(\d+)/m.exec(p.status)?.[1])
      return uid >= base && uid < base + 65_536
    })
    .map((p) => `${p.pid} ${/^Name:\s+(.*)$/m.exec(p.status)?.[1]}`)
const baseOf = async (r: Runtime, id: string) => Number((await sh(r, id, 'cat /proc/self/uid_map')).out.trim().split(/\s+/)[1])

/** Pause must stop a busy counter dead, exec must be refused meanwhile, resume must restart it. */
async function assertPauseFreezes(r: Runtime, dataDir: string, id: string) {
  await r.spawn(id, { cmd: '/bin/sh', args: ['-c', 'while :; do echo tick >> /tmp/counter; done'], tag: 'counter' })
  const counter = join(layerOf(dataDir, id), 'tmp', 'counter')
  const read = () => statSync(counter, { throwIfNoEntry: false })?.size ?? 0
  await sleep(200)
  assert.ok(read() > 0, 'the counter runs')
  const t0 = performance.now()
  await r.pause(id)
  const paused = read()
  await sleep(300)
  assert.is(read(), paused, 'the counter stopped while paused')
  await r.exec(id, { cmd: '/bin/true' }).then(
    () => assert.unreachable('exec on a paused capsule'),
    (err) => assert.is((err as { status: number }).status, 409),
  )
  await r.resume(id)
  const ms = performance.now() - t0
  await sleep(200)
  assert.ok(read() > paused, 'the counter runs again after resume')
  r.getProcess(id, { tag: 'counter' })!.kill('SIGKILL')
  return ms
}

test('pause freezes every process (cgroup freezer), resume thaws them', async () => {
  const c = spec()
  await rt.create(c)
  await assertPauseFreezes(rt, t.dataDir, c.id)
  // pausing twice and resuming twice are no-ops
  await rt.pause(c.id)
  await rt.pause(c.id)
  await rt.resume(c.id)
  await rt.resume(c.id)
  assert.is((await sh(rt, c.id, 'echo ok')).out, 'ok\n')
  await rt.destroy(c.id)
})

test('pause on cgroup v2 (cgroup.freeze) where a unified hierarchy is mounted', async () => {
  const layout = detectCgroups(readFileSync('/proc/self/mountinfo', 'utf8'), 'v2')
  assert.ok(layout.unified, 'this host mounts cgroup v2')
  const v2 = testRuntime({ cgroupVersion: 'v2', uidBase: t.uidBase + 8 * 65_536 })
  const c = spec()
  await v2.rt.create(c)
  const base = await baseOf(v2.rt, c.id)
  try {
    assert.ok(existsSync(join(layout.unified!, 'nestbox-test', c.id, 'cgroup.freeze')))
    await assertPauseFreezes(v2.rt, v2.dataDir, c.id)
    assert.ok((await v2.rt.metrics(c.id)).cpuUsec > 0, 'cpu.stat counts on v2')
  } finally {
    await v2.rt.destroy(c.id)
    await v2.close()
  }
  assert.not.ok(existsSync(join(layout.unified!, 'nestbox-test', c.id)))
  assert.equal(survivors(base), [])
})

test('pause without cgroups stops the whole tree with SIGSTOP', async () => {
  const bare = testRuntime({ cgroupVersion: 'none', uidBase: t.uidBase + 12 * 65_536 })
  const c = spec()
  await bare.rt.create(c)
  const base = await baseOf(bare.rt, c.id)
  try {
    await assertPauseFreezes(bare.rt, bare.dataDir, c.id)
    // stopped and continued processes (and the nsenter above them) must not keep a destroy waiting
    await bare.rt.spawn(c.id, { cmd: '/bin/sh', args: ['-c', 'kill -STOP $$'] })
    await sleep(100)
  } finally {
    await bare.rt.destroy(c.id)
    await bare.close()
  }
  assert.equal(survivors(base), [])
})

/** Snapshot a capsule, start another from it, change that one, snapshot it too. `shared`: through overlayfs, else copied. */
async function snapshotRoundTrip(rt: Runtime, dataDir: string, shared: boolean) {
  const src = spec()
  await rt.create(src)
  await sh(rt, src.id, 'mkdir -p /srv/app && echo v1 > /srv/app/data && ln -s data /srv/app/link && echo mine > /home/user/notes && chown user:user /home/user/notes && chmod 600 /home/user/notes && cp /usr/bin/id /root/suid && chmod 4755 /root/suid')
  const dest = join(mkdtempSync(join(tmpdir(), 'nestbox-tpl-')), 'tpl')
  try {
    await rt.snapshot(src.id, dest)
    assert.is((await sh(rt, src.id, 'cat /srv/app/data')).out, 'v1\n', 'the source keeps running')
    assert.is(statSync(dest).mode & 0o777, 0o700, 'templates sit in a directory only host root enters')
    assert.is(JSON.parse(readFileSync(join(dest, 'template.json'), 'utf8')).contents, 'files')
    assert.is(statSync(join(dest, 'fs', 'home', 'user', 'notes')).uid, 1000, 'stored with ids as seen inside')
    assert.is(statSync(join(dest, 'fs', 'root', 'suid')).mode & 0o7777, 0o755, 'setuid is not kept')

    const copy = spec({ template: { name: 'snap', rootDir: dest } })
    await rt.create(copy)
    const r = await sh(rt, copy.id, 'cat /srv/app/link; stat -c "%U %a" /home/user/notes; cat /home/user/notes; stat -c %a /root/suid; cat /proc/self/uid_map')
    const lines = r.out.trim().split('\n')
    assert.equal(lines.slice(0, 4), ['v1', 'user 600', 'mine', '755'])
    const base = Number(lines[4].trim().split(/\s+/)[1])
    assert.is.not(base, await baseOf(rt, src.id), 'another capsule, another range')
    // overlay: the template is shared, not copied (else copied, in the capsule's range); writes land in its own layer
    const layer = layerOf(dataDir, copy.id)
    assert.is(existsSync(join(layer, 'srv', 'app', 'data')), !shared, shared ? 'the template is not copied into the layer' : 'copied')
    await sh(rt, copy.id, 'echo v2 > /srv/app/data && rm /srv/app/link && echo more >> /home/user/notes', { user: 'root' })
    assert.is(statSync(join(layer, 'home', 'user', 'notes')).uid, base + 1000)
    assert.is(readFileSync(join(dest, 'fs', 'srv', 'app', 'data'), 'utf8'), 'v1\n', 'the template itself never changes')
    assert.ok(existsSync(join(dest, 'fs', 'srv', 'app', 'link')))
    assert.is((await sh(rt, src.id, 'cat /srv/app/data')).out, 'v1\n', 'nor does the source capsule')
    // a snapshot of the copy is its merged view: template files, its changes, its deletions; no host system
    const dest2 = join(dest, '..', 'tpl2')
    await rt.snapshot(copy.id, dest2)
    assert.is(readFileSync(join(dest2, 'fs', 'srv', 'app', 'data'), 'utf8'), 'v2\n')
    assert.not.ok(existsSync(join(dest2, 'fs', 'srv', 'app', 'link')))
    assert.is(readFileSync(join(dest2, 'fs', 'home', 'user', 'notes'), 'utf8'), 'mine\nmore\n')
    assert.is(statSync(join(dest2, 'fs', 'home', 'user', 'notes')).uid, 1000)
    for (const mountPoint of ['usr', 'proc', 'dev']) assert.equal(readdirSync(join(dest2, 'fs', mountPoint)), [], mountPoint)
    // of the host's /etc, only what the capsule has of its own
    assert.equal(readdirSync(join(dest2, 'fs', 'etc')).sort(), ['group', 'gshadow', 'hostname', 'hosts', 'passwd', 'resolv.conf', 'shadow'])
    await rt.destroy(copy.id)
  } finally {
    await rt.destroy(src.id)
    rmSync(join(dest, '..'), { recursive: true, force: true })
  }
}

test('snapshot keeps files, owners and modes (no setuid); capsules started from it share it through an idmapped overlay', async () => {
  await snapshotRoundTrip(rt, t.dataDir, true)
})

test('where templates are not shared, a capsule gets its own copy, shifted into its range', async () => {
  const copying = testRuntime({ overlayTemplates: false, uidBase: t.uidBase + 24 * 65_536 })
  try {
    await snapshotRoundTrip(copying.rt, copying.dataDir, false)
  } finally {
    await copying.close()
  }
})

test('destroy removes processes, cgroups, files and the uid range from the host', async () => {
  const c = spec()
  await rt.create(c)
  const base = await baseOf(rt, c.id)
  await rt.spawn(c.id, { cmd: '/bin/sleep', args: ['300'] })
  await rt.spawn(c.id, { cmd: '/bin/sh', args: ['-c', 'kill -STOP $$'] })
  await sh(rt, c.id, 'sleep 300 >/dev/null 2>&1 &')
  await rt.pause(c.id)
  await rt.destroy(c.id)
  assert.equal(survivors(base), [], 'no process of the capsule survives')
  const layout = detectCgroups(readFileSync('/proc/self/mountinfo', 'utf8'))
  for (const h of Object.values(layout.controllers)) assert.not.ok(existsSync(join(h.mount, 'nestbox-test', c.id)), h.mount)
  assert.not.ok(existsSync(join(t.dataDir, 'runtime', 'capsules', c.id)))
  assert.is(rt.status!(c.id), 'gone')
  await rt.destroy(c.id) // idempotent
  // the range is free again: the next capsule gets it
  const next = spec()
  await rt.create(next)
  assert.is(Number((await sh(rt, next.id, 'cat /proc/self/uid_map')).out.trim().split(/\s+/)[1]), base)
  await rt.destroy(next.id)
})

test('two nestbox instances on one host never hand out the same uid range', async () => {
  const uidBase = t.uidBase + 20 * 65_536
  const one = testRuntime({ uidBase })
  const two = testRuntime({ uidBase })
  const a = spec()
  const b = spec()
  await one.rt.create(a)
  await two.rt.create(b)
  try {
    assert.is.not(await baseOf(one.rt, a.id), await baseOf(two.rt, b.id))
  } finally {
    await one.rt.destroy(a.id)
    await two.rt.destroy(b.id)
    await one.close()
    await two.close()
  }
})

test('a shutdown while a capsule boots waits for the boot, then stops that capsule too', async () => {
  const own = testRuntime({ uidBase: t.uidBase + 28 * 65_536 })
  const c = spec()
  const creating = own.rt.create(c).catch(() => {})
  await sleep(5) // under way
  await own.rt.shutdown()
  await creating
  await sleep(100)
  const left = spawnSync('pgrep', ['-f', '--', `--hostname ${c.id} `], { encoding: 'utf8' })
  if (left.stdout) spawnSync('pkill', ['-9', '-f', '--', `--hostname ${c.id} `])
  rmSync(own.dataDir, { recursive: true, force: true })
  assert.is(left.stdout, '', 'none of its processes is left')
})

test('restart: running capsules are re-attached (keep), or come back with their files (stop)', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-rt-restart-'))
  const uidBase = t.uidBase + 4 * 65_536
  const c = spec()
  const first = testRuntime({ dataDir, uidBase, onShutdown: 'keep' })
  await first.rt.create(c)
  await sh(first.rt, c.id, 'echo kept > /root/file; sleep 300 >/dev/null 2>&1 &')
  await first.rt.shutdown()

  const second = testRuntime({ dataDir, uidBase, onShutdown: 'keep' })
  assert.equal(await second.rt.recover([c.id, 'sb-unknown']), { [c.id]: 'running', 'sb-unknown': 'gone' })
  assert.ok((await second.rt.listProcesses(c.id)).some((p) => p.cmd === 'sleep'), 'its processes kept running')
  assert.is((await sh(second.rt, c.id, 'cat /root/file')).out, 'kept\n')
  await second.rt.pause(c.id)
  await second.rt.shutdown()

  const third = testRuntime({ dataDir, uidBase })
  assert.equal(await third.rt.recover([c.id]), { [c.id]: 'paused' })
  await third.rt.resume(c.id)
  assert.is((await sh(third.rt, c.id, 'echo up')).out, 'up\n')
  await third.rt.shutdown() // onShutdown: stop

  const fourth = testRuntime({ dataDir, uidBase })
  assert.equal(await fourth.rt.recover([c.id]), { [c.id]: 'files-only' })
  await fourth.rt.resume(c.id)
  assert.is((await sh(fourth.rt, c.id, 'cat /root/file')).out, 'kept\n')
  assert.not.ok((await fourth.rt.listProcesses(c.id)).some((p) => p.cmd === 'sleep'), 'a stopped capsule boots fresh')
  await fourth.rt.destroy(c.id)
  await fourth.close()
  rmSync(dataDir, { recursive: true, force: true })
})

test.run()
