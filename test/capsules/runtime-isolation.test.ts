/**
 * Escape attempts against the process runtime, from inside real capsules: host
 * secrets, host writes, privileges, devices, the network, other capsules, the
 * file API's paths, leaked descriptors, and the memory/pids/cpu limits.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { detectCgroups } from '../../lib/capsules/runtime/cgroups.ts'
import { sh, sleep, spec, testRuntime } from './runtime-helpers.ts'

const secretDir = `/etc/nestbox-rt-test-${process.pid}`
const t = testRuntime({ hidePaths: [secretDir] })
const { rt } = t
const a = spec()
const b = spec()
const hostMarker = `/tmp/nestbox-escape-${process.pid}`
const rootOnly = `/etc/nestbox-rt-rootonly-${process.pid}`

test.before(async () => {
  // host files the capsules must not reach: a root-only file and a hidden directory under /etc
  writeFileSync(rootOnly, 'host secret\n', { mode: 0o600 })
  mkdirSync(secretDir, { mode: 0o755 })
  writeFileSync(join(secretDir, 'config'), 'token=host\n', { mode: 0o644 })
  writeFileSync(hostMarker, 'HOST\n')
  await Promise.all([rt.create(a), rt.create(b)])
  await sh(rt, b.id, 'echo b-secret > /root/b-secret')
})
test.after(async () => {
  rmSync(rootOnly, { force: true })
  rmSync(secretDir, { recursive: true, force: true })
  rmSync(hostMarker, { force: true })
  await rt.destroy(a.id)
  await rt.destroy(b.id)
  await t.close()
})

test('host files others may not read are not there (even one made after the start); hidden host paths neither', async () => {
  // the host's system files are the capsule root's inside (system.ts), so what others may not read is masked
  const keys = ['/etc/shadow-', '/etc/gshadow-', rootOnly, ...execFileSync('sh', ['-c', 'ls /etc/ssh/ssh_host_*_key 2>/dev/null || true']).toString().split('\n').filter(Boolean)]
  for (const f of keys) {
    const r = await sh(rt, a.id, `cat ${f}`)
    assert.is.not(r.code, 0, f)
    assert.match(r.err, /No such file/, f)
  }
  const later = `/etc/nestbox-rt-later-${process.pid}`
  writeFileSync(later, 'made while running\n', { mode: 0o600 })
  try {
    const c = spec()
    await rt.create(c)
    assert.match((await sh(rt, c.id, `cat ${later} 2>&1`)).out, /No such file/)
    await rt.destroy(c.id)
  } finally {
    rmSync(later, { force: true })
  }
  // its /etc/shadow is its own, without the host's hashes
  const shadow = (await sh(rt, a.id, 'cat /etc/shadow')).out
  assert.match(shadow, /^root:\*:/)
  for (const h of readFileSync('/etc/shadow', 'utf8').split('\n').map((l) => l.split(':')[1] ?? '').filter((x) => x.length > 2)) assert.not.ok(shadow.includes(h))
  const r = await sh(rt, a.id, `ls ${secretDir} 2>&1; cat ${secretDir}/config 2>&1`)
  assert.not.match(r.out, /token=host/)
})

test('nothing of the host outside the system directories is visible', async () => {
  const r = await sh(rt, a.id, `for p in ${t.dataDir} /work /farm /root/.bash_history /home/user/.. /run/nestbox /proc/1/root/work ${hostMarker}; do [ -e "$p" ] && echo "SEEN $p"; done; ls -A /root /home; ls /`)
  assert.not.match(r.out, /SEEN (?!\/home\/user\/\.\.)/, r.out)
  assert.not.match(r.out, /\bwork\b|\bfarm\b/)
  assert.not.match(r.out, new RegExp(`nestbox-rt`))
})

test('a capsule cannot write to the host: its changes to the system stay its own', async () => {
  for (const p of ['/proc/sys/kernel/hostname', '/proc/sysrq-trigger', `${secretDir}/x`]) {
    const r = await sh(rt, a.id, `echo pwned > ${p}`)
    assert.is.not(r.code, 0, `${p}: ${r.out}`)
  }
  for (const p of ['/usr/bin/nestbox-x', '/etc/nestbox-x', '/usr/local/nestbox-x']) assert.is((await sh(rt, a.id, `echo pwned > ${p} && cat ${p}`)).out, 'pwned\n', p)
  assert.is((await sh(rt, a.id, 'echo "pwned:x:0:0::/:/bin/sh" >> /etc/passwd')).code, 0)
  assert.not.match(readFileSync('/etc/passwd', 'utf8'), /pwned/)
  for (const p of ['/usr/bin/nestbox-x', '/etc/nestbox-x', '/usr/local/nestbox-x', `${secretDir}/x`]) assert.not.ok(existsSync(p), p)
  assert.is(readFileSync('/proc/sys/kernel/hostname', 'utf8').trim() !== 'pwned', true)
  // writes through /proc/1/root and .. stay in the capsule
  const r = await sh(rt, a.id, `echo pwned > /proc/1/root/../../../..${hostMarker} && cat ${hostMarker}`)
  assert.is(r.out.trim(), 'pwned')
  assert.is(readFileSync(hostMarker, 'utf8'), 'HOST\n')
})

test('no capability to mount, make devices, load modules, change the network or the hostname', async () => {
  const r = await sh(rt, a.id, 'grep CapEff /proc/self/status')
  const eff = BigInt('0x' + r.out.trim().split(/\s+/)[1])
  for (const bit of [21n /* SYS_ADMIN */, 16n /* SYS_MODULE */, 27n /* MKNOD */, 12n /* NET_ADMIN */, 13n /* NET_RAW */, 19n /* SYS_PTRACE */, 17n /* SYS_RAWIO */, 25n /* SYS_TIME */])
    assert.is((eff >> bit) & 1n, 0n, `capability ${bit}`)
  const tries: [string, RegExp][] = [
    ['mount -t tmpfs none /mnt', /permission denied|not permitted/i],
    ['mount --bind /usr /mnt', /permission denied|not permitted/i],
    ['unshare -U true', /No space left|not permitted/i],
    ['unshare -m true', /not permitted/i],
    ['mknod /tmp/vda b 254 0', /not permitted/i],
    ['mknod /tmp/mem c 1 1', /not permitted/i],
    ['hostname pwned', /not permitted|must be root/i],
    ['ip link set lo down 2>&1 || python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)"', /not permitted|Errno 1/i],
    [`python3 -c "import ctypes,os; l=ctypes.CDLL(None, use_errno=True); r=l.syscall(313, -1, b'', 0); print(r, os.strerror(ctypes.get_errno()))"`, /-1 (Operation not permitted|Function not implemented)/], // ENOSYS: kernels built without modules
    ['timeout 2 dd if=/proc/kmsg bs=1 count=1', /not permitted|Permission denied/i],
  ]
  for (const [cmd, re] of tries) {
    const x = await sh(rt, a.id, `${cmd} 2>&1; echo "exit=$?"`)
    assert.match(x.out, re, `${cmd}: ${x.out}`)
  }
  const devs = (await sh(rt, a.id, 'ls /dev')).out.trim().split('\n').sort()
  assert.equal(devs, ['core', 'fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero'])
})

test('the network namespace has loopback only: the host loopback is out of reach', async () => {
  const server = createServer((s) => s.end('host\n'))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  try {
    const r = await sh(rt, a.id, `cat /proc/net/dev | tail -n +3 | cut -d: -f1; (echo > /dev/tcp/127.0.0.1/${port}) 2>&1; echo "exit=$?"`.replace('(echo', "bash -c '(echo").replace(') 2>&1', ") 2>&1'"))
    assert.equal(r.out.trim().split('\n')[0].trim(), 'lo')
    assert.match(r.out, /Connection refused/)
    // loopback inside works
    const inside = await sh(rt, a.id, `python3 -c "
import socket,threading
s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(1)
threading.Thread(target=lambda: s.accept()[0].sendall(b'inside'), daemon=True).start()
c=socket.create_connection(s.getsockname()); print(c.recv(10).decode())"`)
    assert.is(inside.out.trim(), 'inside')
  } finally {
    server.close()
  }
  // abstract unix sockets belong to the network namespace: the host's (e.g. a desktop's or an agent's) are out of reach
  const name = `nestbox-abstract-${process.pid}`
  const abstract = createServer((s) => s.end('host\n'))
  await new Promise<void>((r) => abstract.listen({ path: `\0${name}` }, r))
  try {
    const r = await sh(rt, a.id, `python3 -c "
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect('\\0${name}'); print('CONNECTED', s.recv(10))
except OSError as e: print('refused', e.errno)"`)
    assert.match(r.out, /refused/, r.out + r.err)
  } finally {
    abstract.close()
  }
})

test('other capsules and host processes are invisible and out of reach', async () => {
  const ps = await sh(rt, a.id, 'ls /proc | grep -E "^[0-9]+$" | wc -l; cat /proc/*/cmdline 2>/dev/null | tr "\\0" " "')
  assert.ok(Number(ps.out.split('\n')[0]) < 10, ps.out)
  assert.not.match(ps.out, /node|nestbox-t/)
  const kill = await sh(rt, a.id, `kill -9 ${process.pid} 2>&1; echo "exit=$?"`)
  assert.match(kill.out, /No such process|exit=1/)
  const other = await sh(rt, a.id, 'cat /root/b-secret 2>&1; find / -xdev -name b-secret 2>/dev/null | head -1')
  assert.not.match(other.out, /b-secret$/m)
})

test("the file API resolves every path inside the capsule: '..' and symlinks cannot leave it", async () => {
  await sh(rt, a.id, `ln -sfn / /tmp/up; ln -sfn ../../../../../../.. /tmp/esc; ln -sfn ${t.dataDir} /tmp/data; ln -sfn /proc/1/root /tmp/p1; ln -sfn ${hostMarker} /tmp/marker`)
  const reads = [`/tmp/up${hostMarker}`, `/../../../..${hostMarker}`, `/tmp/esc/..${hostMarker}`, `/tmp/p1/../..${hostMarker}`, `/tmp/marker`, `/tmp/data/runtime/capsules/${b.id}/layer/root/b-secret`, `/tmp/esc${t.dataDir}`]
  await sh(rt, a.id, `rm -f ${hostMarker}`)
  for (const p of reads) {
    await rt.readFile(a.id, p).then(
      async (r) => assert.unreachable(`${p} was readable: ${Buffer.concat(await r.stream.toArray()).toString()}`),
      (err) => assert.is((err as NodeJS.ErrnoException).code, 'ENOENT', p),
    )
  }
  await rt.readFile(a.id, '/tmp/up/etc/shadow-').then(
    () => assert.unreachable('shadow-'),
    (err) => assert.is((err as NodeJS.ErrnoException).code, 'ENOENT'),
  )
  const escW = `/tmp/nestbox-escape-w-${process.pid}`
  await rt.writeFile(a.id, `/tmp/esc/../..${escW}`, Readable.from([Buffer.from('x')]))
  await rt.writeFile(a.id, `/tmp/marker`, Readable.from([Buffer.from('overwritten')]))
  assert.not.ok(existsSync(escW), 'the write stayed inside')
  assert.is(readFileSync(hostMarker, 'utf8'), 'HOST\n')
  assert.ok(await rt.stat(a.id, escW))
  const root = (await rt.list(a.id, '/tmp/esc', 1)).map((e) => e.name)
  assert.ok(root.includes('home') && !root.includes('work'), root.join(','))
  assert.is(await rt.stat(a.id, t.dataDir), null)
  await rt.remove(a.id, '/tmp/up')
  assert.ok((await sh(rt, a.id, 'ls /usr/bin/env')).code === 0, 'removing a link does not touch its target')
})

test('no process inside holds a descriptor that leads out of the capsule', async () => {
  const r = await sh(rt, a.id, `for f in /proc/[0-9]*/fd/*; do l=$(readlink "$f") || continue
    case "$l" in pipe:*|socket:*|anon_inode:*|/dev/null|/dev/pts/*|/proc/*) continue;; esac
    [ "$(stat -L -c %d:%i "$f" 2>/dev/null)" = "$(stat -c %d:%i "$l" 2>/dev/null)" ] || echo "OUT $f -> $l"; done`)
  assert.is(r.out, '', r.out)
})

test('memory: a capsule over its limit is OOM-killed inside, and carries on', async () => {
  const small = spec({ memoryMb: 64 })
  await rt.create(small)
  try {
    const r = await sh(rt, small.id, 'python3 -c "b = bytearray(256 * 1024 * 1024); print(len(b))"')
    assert.is(r.code, 137, r.out + r.err)
    assert.is((await sh(rt, small.id, 'echo alive')).out, 'alive\n')
    const mem = detectCgroups(readFileSync('/proc/self/mountinfo', 'utf8')).controllers.memory!
    const events = readFileSync(join(mem.mount, 'nestbox-test', small.id, mem.version === 1 ? 'memory.oom_control' : 'memory.events'), 'utf8')
    assert.ok(Number(/oom_kill (\d+)/.exec(events)?.[1]) >= 1, events)
  } finally {
    await rt.destroy(small.id)
  }
})

test('pids: a fork bomb is bounded by the pids limit and the host stays responsive', async () => {
  const small = testRuntime({ pidsMax: 64, uidBase: t.uidBase + 16 * 65_536 })
  const c = spec()
  await small.rt.create(c)
  try {
    const bomb = await small.rt.spawn(c.id, { cmd: '/bin/bash', args: ['-c', 'f() { f | f & }; f'] })
    await sleep(1500)
    const pids = detectCgroups(readFileSync('/proc/self/mountinfo', 'utf8')).controllers.pids!
    const n = readFileSync(join(pids.mount, 'nestbox-test', c.id, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).length
    assert.ok(n <= 64, `${n} processes`)
    assert.is(execFileSync('/bin/echo', ['host ok']).toString(), 'host ok\n')
    bomb.kill('SIGKILL')
  } finally {
    await small.rt.destroy(c.id)
    await small.close()
  }
})

test('cpu: vcpus=1 caps two busy loops at about one CPU', async () => {
  const before = (await rt.metrics(a.id)).cpuUsec
  const t0 = Date.now()
  await sh(rt, a.id, 'timeout 1 sh -c "while :; do :; done" & timeout 1 sh -c "while :; do :; done" & wait')
  const wall = (Date.now() - t0) * 1000
  const used = (await rt.metrics(a.id)).cpuUsec - before
  assert.ok(used < wall * 1.25, `${used} µs of CPU in ${wall} µs`)
})

test('killing the init from inside stops the capsule; resume boots it again with its files', async () => {
  const c = spec()
  await rt.create(c)
  try {
    await sh(rt, c.id, 'echo keep > /root/kept')
    await sh(rt, c.id, 'kill -9 -1')
    for (let i = 0; i < 100 && rt.status!(c.id) === 'running'; i++) await sleep(20)
    assert.is(rt.status!(c.id), 'files-only')
    await rt.exec(c.id, { cmd: '/bin/true' }).then(
      () => assert.unreachable('exec on a stopped capsule'),
      (err) => assert.is((err as { status: number }).status, 409),
    )
    await rt.resume(c.id)
    assert.is((await sh(rt, c.id, 'cat /root/kept')).out, 'keep\n')
    // the other capsules never noticed
    assert.is((await sh(rt, b.id, 'cat /root/b-secret')).out, 'b-secret\n')
  } finally {
    await rt.destroy(c.id)
  }
})

test('attach: a host directory bound into a running capsule is read-only there, cannot be unmounted from inside, and is bound again when it boots again', async () => {
  const c = spec()
  const dir = `/tmp/nestbox-attach-${process.pid}`
  mkdirSync(join(dir, 'sub'), { recursive: true })
  writeFileSync(join(dir, 'sub', 'f.txt'), 'attached\n')
  writeFileSync(`${dir}-sibling`, 'not for the capsule\n')
  await rt.create(c)
  try {
    assert.is((await sh(rt, c.id, 'ls /opt/given 2>&1')).code, 2)
    await rt.attach!(c.id, { source: join(dir, 'sub'), path: '/opt/given' })
    assert.is((await sh(rt, c.id, 'cat /opt/given/f.txt')).out, 'attached\n')
    // the mount point's missing parent was made for the capsule's root, which can use it
    assert.is((await sh(rt, c.id, 'stat -c %U /opt && touch /opt/mine && echo ok')).out, 'root\nok\n')
    const tries = await sh(rt, c.id, 'touch /opt/given/x; umount /opt/given; mount -o remount,rw /opt/given; cat /opt/given/../given/f.txt; ls /opt/given/..')
    assert.match(tries.err, /Read-only file system/)
    assert.ok(!existsSync(join(dir, 'sub', 'x')))
    assert.is((await sh(rt, c.id, 'cat /opt/given/f.txt')).out, 'attached\n')
    assert.not.match(tries.out, /sibling/)
    assert.match((await sh(rt, c.id, 'grep " /opt/given " /proc/self/mountinfo')).out, /ro,nosuid,nodev/)
    await rt.attach!(c.id, { source: `${dir}-sibling`, path: '/opt/file' }).then(
      () => assert.unreachable('a file attached'),
      (err) => assert.is((err as { status: number }).status, 400),
    )
    await sh(rt, c.id, 'kill -9 -1')
    for (let i = 0; i < 100 && rt.status!(c.id) === 'running'; i++) await sleep(20)
    await rt.resume(c.id)
    assert.match((await sh(rt, c.id, 'cat /opt/given/f.txt; touch /opt/given/y 2>&1')).out, /^attached\n.*Read-only file system/)
  } finally {
    await rt.destroy(c.id)
    rmSync(dir, { recursive: true, force: true })
    rmSync(`${dir}-sibling`, { force: true })
  }
})

test.run()
