/**
 * Isolation of the process runtime proven through the Wrenn HTTP API, as a user
 * of nestbox would probe it: what runs in a capsule (exec) and what the files
 * endpoints reach. Host secrets, host writes, privileges, the network (nestbox's
 * own port included), nestbox's data directory, other capsules, symlink and `..`
 * escapes, memory and pids limits, and pause.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { detectCgroups } from '../../lib/capsules/runtime/cgroups.ts'
import type { TestNestbox } from '../harness.ts'
import { createCapsule, exec, start, waitStatus } from './fixtures.ts'

let nb: TestNestbox
let a: string
let b: string
const hostMarker = `/tmp/nestbox-isolation-${process.pid}`
const sh = async (id: string, cmd: string, extra: Record<string, unknown> = {}) => {
  const r = await exec(nb, id, { cmd, ...extra })
  assert.is(r.status, 200, JSON.stringify(r.body))
  return { code: r.body.exit_code as number, out: r.body.stdout as string, err: r.body.stderr as string }
}
const files = (id: string, op: string, json: unknown) => nb.api(`/v1/capsules/${id}/files/${op}`, { method: 'POST', json })
const upload = (id: string, path: string, content: string) => {
  const fd = new FormData()
  fd.append('path', path)
  fd.append('file', new Blob([content]), 'f')
  return nb.api(`/v1/capsules/${id}/files/write`, { method: 'POST', body: fd })
}
/** A running capsule's root as host root reaches it (its files live on its own disk image, not in the data dir). */
const rootOf = (id: string) => `/proc/${JSON.parse(readFileSync(join(nb.dataDir, 'runtime', 'capsules', id, 'state.json'), 'utf8')).pid1}/root`
const hostHashes = () => readFileSync('/etc/shadow', 'utf8').split('\n').map((l) => l.split(':')[1] ?? '').filter((h) => h.length > 2)

test.before(async () => {
  writeFileSync(hostMarker, 'HOST\n')
  nb = await start({ 'capsules.process.pidsMax': 64 })
  ;[a, b] = await Promise.all([createCapsule(nb), createCapsule(nb)])
  await sh(b, 'echo b-secret > /root/b-secret')
})
test.after(async () => {
  rmSync(hostMarker, { force: true })
  await nb?.close()
})

test('root in a capsule is an unprivileged uid on the host; what the host keeps from others is not there', async () => {
  const id = await sh(a, 'id -u; cat /proc/self/uid_map; touch /root/made-by-root')
  const [uid, map] = id.out.trim().split('\n')
  assert.is(uid, '0')
  const hostUid = Number(map.trim().split(/\s+/)[1])
  assert.ok(hostUid >= 65_536, `root inside is host uid ${hostUid}`)
  assert.is(statSync(join(rootOf(a), 'root', 'made-by-root')).uid, hostUid)
  // its own account files; the host's root-only ones (shadow-, ssl/private) are masked
  const shadow = await sh(a, 'cat /etc/shadow; cat /etc/shadow- 2>&1; ls /etc/ssl/private 2>&1')
  assert.match(shadow.out, /^root:\*:/)
  assert.match(shadow.out, /shadow-: No such file[^]*private': No such file/)
  for (const h of hostHashes()) assert.not.ok(shadow.out.includes(h), 'no host password hash')
  assert.is((await files(a, 'read', { path: '/etc/shadow-' })).status, 404)
})

test("nestbox's data directory, other capsules and the host's private directories are not there", async () => {
  const r = await sh(a, `for p in ${nb.dataDir} ${nb.dataDir}/nestbox.db /work /root/b-secret ${hostMarker}; do [ -e "$p" ] && echo "SEEN $p"; done; ls -A /root; true`)
  assert.not.match(r.out, /SEEN/)
  assert.not.match(r.out, /b-secret/)
  assert.is((await files(a, 'read', { path: join(nb.dataDir, 'nestbox.db') })).status, 404)
  assert.is((await files(a, 'read', { path: `/proc/1/root/..${hostMarker}` })).status, 404)
  const ps = await sh(a, 'cat /proc/[0-9]*/cmdline | tr "\\0" " "')
  assert.not.match(ps.out, /node|b-secret/)
})

test('a capsule changes its own system, never the host, through exec or the files API', async () => {
  for (const p of ['/usr/bin/nestbox-x', '/etc/nestbox-x', '/etc/passwd']) {
    assert.is((await sh(a, `echo pwned >> ${p}`)).code, 0, p)
    assert.is((await upload(a, `${p}.up`, 'pwned')).status, 204, p)
    assert.match((await sh(a, `cat ${p} ${p}.up`)).out, /pwned\n(.*\n)?pwned$/, p)
  }
  assert.not.ok(existsSync('/usr/bin/nestbox-x.up') || existsSync('/etc/passwd.up'))
  assert.not.ok(existsSync('/usr/bin/nestbox-x') || existsSync('/etc/nestbox-x'))
  assert.not.match(readFileSync('/etc/passwd', 'utf8'), /pwned/)
  // /tmp, `..` and /proc/1/root all lead to the capsule's own files
  assert.is((await upload(a, `/../../..${hostMarker}`, 'inside')).status, 204)
  assert.is((await sh(a, `echo more >> /proc/1/root/../..${hostMarker}; cat ${hostMarker}`)).out, 'insidemore\n')
  assert.is(readFileSync(hostMarker, 'utf8'), 'HOST\n')
})

test('symlinks cannot take the files API out of the capsule', async () => {
  await sh(a, `ln -sfn / /tmp/up; ln -sfn ../../../../.. /tmp/esc; ln -sfn ${nb.dataDir} /tmp/data; rm -f ${hostMarker}`)
  for (const path of [`/tmp/up${hostMarker}`, `/tmp/esc${hostMarker}`, '/tmp/data/nestbox.db', `/tmp/data/runtime/capsules/${b}/layer/root/b-secret`])
    assert.is((await files(a, 'read', { path })).status, 404, path)
  assert.is((await files(a, 'read', { path: '/tmp/up/etc/shadow-' })).status, 404)
  assert.is((await upload(a, `/tmp/esc${hostMarker}`, 'x')).status, 204)
  assert.is(readFileSync(hostMarker, 'utf8'), 'HOST\n')
  const list = await files(a, 'list', { path: '/tmp/esc/', depth: 1 })
  if (list.status === 200) {
    const names = ((await list.json()).entries as Array<{ name: string }>).map((e) => e.name)
    assert.ok(names.includes('home') && !names.includes('work'), names.join(','))
  } else assert.is(list.status, 400, 'a symlink is not listed as a directory')
})

test('no capability to mount, create devices or change the network', async () => {
  for (const cmd of ['mount -t tmpfs none /mnt', 'unshare -U true', 'unshare -m true', 'mknod /tmp/vda b 254 0', 'ip link set lo down']) {
    const r = await sh(a, `${cmd} 2>&1; echo "exit=$?"`)
    assert.not.match(r.out, /exit=0/, `${cmd}: ${r.out}`)
  }
  const devs = (await sh(a, 'ls /dev')).out.trim().split('\n')
  assert.not.ok(devs.some((d) => /^(vd|sd|nvme|mem|kmsg|loop)/.test(d)), devs.join(' '))
})

test("loopback only: nestbox's own API on the host loopback is unreachable", async () => {
  const port = new URL(nb.url).port
  const r = await sh(a, `cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; python3 -c "
import socket
try:
    socket.create_connection(('127.0.0.1', ${port}), timeout=2); print('CONNECTED')
except OSError as e: print('refused', e.errno)"`)
  const lines = r.out.trim().split('\n')
  assert.equal(lines[0], 'lo')
  assert.match(lines[1], /refused/)
})

test('memory_mb is enforced inside: the hog is OOM-killed, the capsule carries on', async () => {
  const small = await createCapsule(nb, { memory_mb: 64 })
  const r = await sh(small, 'python3 -c "b = bytearray(256 * 1024 * 1024); print(len(b))"')
  assert.is(r.code, 137, r.out + r.err)
  assert.is((await sh(small, 'echo alive')).out, 'alive\n')
  assert.is((await nb.api(`/v1/capsules/${small}`, { method: 'DELETE' })).status, 202)
})

test('a fork bomb stops at the pids limit and nestbox keeps answering', async () => {
  const bomb = await createCapsule(nb)
  assert.is((await exec(nb, bomb, { cmd: 'f() { f | f & }; f', background: true })).status, 202)
  await new Promise((r) => setTimeout(r, 1500))
  const pids = detectCgroups(readFileSync('/proc/self/mountinfo', 'utf8')).controllers.pids!
  const n = readFileSync(join(pids.mount, 'nestbox', bomb, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).length
  assert.ok(n <= 64, `${n} processes`)
  const t0 = Date.now()
  assert.is((await nb.api(`/v1/capsules/${a}`)).status, 200)
  assert.ok(Date.now() - t0 < 2000)
  assert.is((await nb.api(`/v1/capsules/${bomb}`, { method: 'DELETE' })).status, 202)
  assert.not.ok(existsSync(join(pids.mount, 'nestbox', bomb)))
})

test('pause freezes every process; exec is refused until resume', async () => {
  assert.is((await exec(nb, a, { cmd: 'while :; do echo tick >> /tmp/counter; done', background: true })).status, 202)
  const root = rootOf(a)
  const size = () => statSync(join(root, 'tmp', 'counter'), { throwIfNoEntry: false })?.size ?? 0
  await new Promise((r) => setTimeout(r, 200))
  assert.ok(size() > 0)
  assert.is((await nb.api(`/v1/capsules/${a}/pause`, { method: 'POST' })).status, 202)
  await waitStatus(nb, a, 'paused')
  const frozen = size()
  await new Promise((r) => setTimeout(r, 300))
  assert.is(size(), frozen, 'nothing ran while paused')
  assert.is((await exec(nb, a, { cmd: 'echo no' })).status, 409)
  assert.is((await nb.api(`/v1/capsules/${a}/resume`, { method: 'POST' })).status, 202)
  await waitStatus(nb, a, 'running')
  await new Promise((r) => setTimeout(r, 200))
  assert.ok(size() > frozen, 'running again')
})

test.run()
