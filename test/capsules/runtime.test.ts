/**
 * The process runtime driven directly: exec, background processes, PTY, files.
 * (Isolation and limits: runtime-isolation.test.ts; pause, snapshots, restart,
 * destroy: runtime-lifecycle.test.ts.)
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { createHash } from 'node:crypto'
import { freeNow } from '../../lib/core/buffers.ts'
import { liveProcesses, sh, sleep, spec, testRuntime } from './runtime-helpers.ts'

const t = testRuntime()
const { rt } = t
const cap = spec()
const id = cap.id

test.before(async () => {
  await rt.create(cap)
})
test.after(async () => {
  await rt.destroy(id)
  await t.close()
})

test('exec runs a command as root inside, which is the capsule uid range outside', async () => {
  const r = await sh(rt, id, 'echo ok; id -u; cat /proc/self/uid_map; hostname; echo "$HOME $PWD"; touch /root/mine')
  assert.is(r.code, 0, r.err)
  const [ok, uid, map, host, env] = r.out.trim().split('\n')
  assert.is(ok, 'ok')
  assert.is(uid, '0')
  assert.equal(map.trim().split(/\s+/).map(Number), [0, t.uidBase, 65536])
  assert.is(host, id)
  assert.is(env, '/root /root')
  // the file root created inside belongs to an unprivileged host uid
  const st = statSync(join(t.dataDir, 'runtime', 'capsules', id, 'layer', 'root', 'mine'))
  assert.is(st.uid, t.uidBase)
  assert.is(st.gid, t.uidBase)
})

test('exec reports exit codes, stderr, binary output, stdin, env and cwd', async () => {
  const r = await rt.exec(id, { cmd: '/bin/sh', args: ['-c', 'cat; echo "$FOO" >&2; pwd; exit 7'], stdin: Buffer.from('in\n'), envs: { FOO: 'bar baz' }, cwd: '/tmp' })
  assert.is(r.exitCode, 7)
  assert.is(r.stdout.toString(), 'in\n/tmp\n')
  assert.is(r.stderr.toString(), 'bar baz\n')
  assert.is(r.timedOut, false)
  assert.ok(r.durationMs >= 0)
  const bin = await rt.exec(id, { cmd: '/usr/bin/head', args: ['-c', '256', '/dev/urandom'] })
  assert.is(bin.stdout.length, 256)
  const missing = await rt.exec(id, { cmd: 'no-such-program' })
  assert.is(missing.exitCode, 127)
  try {
    await rt.exec(id, { cmd: '/bin/true', cwd: '/no/such/dir' })
    assert.unreachable('a missing cwd is refused')
  } catch (err) {
    assert.is((err as { status?: number }).status, 400)
  }
  // the caller's environment cannot reach the host-side steps of the entry chain
  const pre = await rt.exec(id, { cmd: '/bin/sh', args: ['-c', 'echo "$LD_PRELOAD"'], envs: { LD_PRELOAD: '/nonexistent.so' } })
  assert.is(pre.exitCode, 0)
})

test('execs announced at create (firstExecs) find entries started ahead; those left unused go with the capsule', async () => {
  const inCgroups = (id: string) => liveProcesses().filter((p) => p.cgroup().includes(id)).length
  const announced = spec({ firstExecs: 4 })
  const plain = spec()
  await rt.create(announced)
  await rt.create(plain)
  for (const c of [announced, plain]) {
    assert.is((await sh(rt, c.id, 'echo one; id -u')).out, 'one\n0\n')
    assert.is((await sh(rt, c.id, 'echo two; id -u', { user: 'user' })).out, 'two\n1000\n')
  }
  await sleep(200) // entries started after those execs are waiting by now
  // two announced execs are still to come: two entries wait for them, where a capsule without announcement keeps one
  assert.ok(inCgroups(announced.id) > inCgroups(plain.id), `${inCgroups(announced.id)} vs ${inCgroups(plain.id)} processes`)
  for (const c of [announced, plain]) {
    await rt.destroy(c.id)
    assert.is(inCgroups(c.id), 0, 'no process is left in its cgroups')
  }
})

test('exec as the unprivileged capsule user', async () => {
  const r = await sh(rt, id, 'id -un; id -u; echo $HOME; touch /root/x', { user: 'user' })
  const lines = r.out.trim().split('\n')
  assert.equal(lines, ['user', '1000', '/home/user'])
  assert.match(r.err, /Permission denied/)
})

test('exec timeout kills the command and everything it started', async () => {
  const t0 = Date.now()
  const r = await rt.exec(id, { cmd: '/bin/sh', args: ['-c', 'sleep 30 & sleep 30; echo never'], timeoutMs: 300 })
  assert.ok(Date.now() - t0 < 5000)
  assert.is(r.timedOut, true)
  assert.is(r.exitCode, 137)
  assert.not.match(r.stdout.toString(), /never/)
  await sleep(100)
  const left = (await rt.listProcesses(id)).filter((p) => p.cmd.includes('sleep'))
  assert.equal(left, [], 'the background sleep died with its group')
})

test('background process: tag, pid, output fan-out to several readers, list, kill', async () => {
  const p = await rt.spawn(id, { cmd: '/bin/sh', args: ['-c', 'echo start; read line; echo "got $line"; echo err >&2; sleep 30'], tag: 'worker' })
  assert.ok(p.pid > 2, `pid inside the capsule: ${p.pid}`)
  assert.is(p.tag, 'worker')
  let a = ''
  let b = ''
  let e = ''
  p.onStdout((d) => (a += d))
  const offB = p.onStdout((d) => (b += d))
  p.onStderr((d) => (e += d))
  await sleep(150)
  p.writeStdin(Buffer.from('hello\n'))
  for (let i = 0; i < 50 && !a.includes('got hello'); i++) await sleep(20)
  offB()
  assert.match(a, /got hello/)
  assert.match(b, /got hello/)
  assert.match(e, /err/)
  assert.is(rt.getProcess(id, { tag: 'worker' }), p)
  assert.is(rt.getProcess(id, { pid: p.pid }), p)
  assert.is(rt.getProcess(id, { tag: 'nope' }), null)
  // `sleep 30` comes after the output above: wait for the shell to have started it
  let list = await rt.listProcesses(id)
  for (let i = 0; i < 100 && !list.some((x) => x.cmd === 'sleep'); i++) list = await sleep(20).then(() => rt.listProcesses(id))
  const mine = list.find((x) => x.pid === p.pid)
  assert.ok(mine, JSON.stringify(list))
  assert.is(mine!.tag, 'worker')
  assert.is(mine!.cmd, '/bin/sh')
  assert.ok(list.some((x) => x.cmd === 'sleep' && x.args[0] === '30'), 'children are listed too')
  assert.ok(!list.some((x) => x.pid === 1 || x.args.includes('infinity')), "the capsule's own init is not listed")
  p.kill('SIGTERM')
  assert.is(await p.exited, 143)
})

test('killProcess signals any process of the capsule by its pid inside', async () => {
  await sh(rt, id, 'sleep 60 >/dev/null 2>&1 &')
  // the shell is gone once its child forked, maybe before the child became `sleep`
  let victim
  for (let i = 0; i < 100 && !victim; i++) victim = (await rt.listProcesses(id)).find((x) => x.cmd === 'sleep' && x.args[0] === '60') ?? (await sleep(20), undefined)
  assert.ok(victim)
  assert.is(await rt.killProcess!(id, victim!.pid, 'SIGKILL'), true)
  await sleep(100)
  assert.not.ok((await rt.listProcesses(id)).some((x) => x.pid === victim!.pid))
  assert.is(await rt.killProcess!(id, 999_999, 'SIGKILL'), false)
  assert.is(await rt.killProcess!(id, 1, 'SIGKILL'), false, 'init is not a process one can kill')
})

test('pty: a terminal inside the capsule, with resize, input and kill', async () => {
  const p = await rt.pty(id, { cmd: '/bin/bash', args: ['--norc', '-i'], cols: 100, rows: 30 })
  let out = ''
  p.onData((d) => (out += d.toString()))
  const until = async (re: RegExp) => {
    for (let i = 0; i < 100 && !re.test(out); i++) await sleep(20)
    assert.match(out, re)
  }
  p.write('stty size; echo "$TERM"; hostname; tty\r')
  await until(/30 100/)
  await until(/\/dev\/pts\/\d+/) // a terminal of the capsule's own devpts
  await until(new RegExp(id))
  assert.match(out, /xterm-256color/)
  p.resize(120, 40)
  p.write('stty size\r')
  await until(/40 120/)
  p.kill('SIGKILL')
  assert.is(await p.exited, 137)
})

test('files: write, read, stat, list, mkdir, remove', async () => {
  const w = await rt.writeFile(id, '/home/user/a/b/hello.txt', Readable.from([Buffer.from('hello '), Buffer.from('world')]))
  assert.is(w.size, 11)
  const st = await rt.stat(id, '/home/user/a/b/hello.txt')
  assert.is(st?.type, 'file')
  assert.is(st?.size, 11)
  assert.is(st?.owner, 'root')
  const r = await rt.readFile(id, '/home/user/a/b/hello.txt')
  assert.is(r.size, 11)
  assert.is(Buffer.concat(await r.stream.toArray()).toString(), 'hello world')
  assert.is(await rt.stat(id, '/nope'), null)
  await rt.mkdir(id, '/home/user/a/c')
  await sh(rt, id, 'ln -s /etc/hostname /home/user/a/link')
  const list = await rt.list(id, '/home/user/a', 1)
  assert.equal(list.map((e) => [e.name, e.type]), [['b', 'dir'], ['c', 'dir'], ['link', 'symlink']])
  assert.is(list[2].symlinkTarget, '/etc/hostname')
  const deep = await rt.list(id, '/home/user/a', 2)
  assert.ok(deep.some((e) => e.path === '/home/user/a/b/hello.txt'))
  await rt.remove(id, '/home/user/a/b')
  assert.is(await rt.stat(id, '/home/user/a/b/hello.txt'), null)
  try {
    await rt.readFile(id, '/home/user/a/c')
    assert.unreachable()
  } catch (err) {
    assert.is((err as NodeJS.ErrnoException).code, 'EISDIR')
  }
  // the system is the capsule's own, copy-on-write over the host's
  await rt.mkdir(id, '/etc/nestbox-files-x')
  assert.is((await rt.stat(id, '/etc/nestbox-files-x'))?.type, 'dir')
  assert.not.ok(existsSync('/etc/nestbox-files-x'))
})

test('files: streaming 64 MiB both ways keeps every byte, without buffering whole', async () => {
  const size = 64 * 1024 * 1024
  // made (and its pages touched) before RSS is first read, and sent as views of it: what grows is nestbox's alone
  const data = Buffer.alloc(size)
  for (let i = 0; i < 64; i++) data.fill(i, i << 20, (i + 1) << 20)
  const hashIn = createHash('sha256').update(data)
  let sent = 0
  const src = new Readable({
    read() {
      if (sent >= size) return this.push(null)
      this.push(data.subarray(sent, (sent += 1 << 20)))
    },
  })
  const rss0 = process.memoryUsage().rss
  const w = await rt.writeFile(id, '/tmp/big.bin', src)
  assert.is(w.size, size)
  const r = await rt.readFile(id, '/tmp/big.bin')
  assert.is(r.size, size)
  const hashOut = createHash('sha256')
  // each chunk is done with once hashed: the reader frees it now rather than at V8's next collection, so what
  // grows is what nestbox holds
  for await (const c of r.stream) (hashOut.update(c as Buffer), freeNow(c as Buffer))
  assert.is(hashOut.digest('hex'), hashIn.digest('hex'))
  const grown = process.memoryUsage().rss - rss0
  assert.ok(grown < 48 * 1024 * 1024, `RSS grew ${grown} bytes`)
  await rt.remove(id, '/tmp/big.bin')
})

test('files: an aborted upload leaves neither the file nor a temporary behind', async () => {
  let n = 0
  const src = new Readable({
    read() {
      if (n++ < 3) this.push(Buffer.alloc(65536, 1))
      else this.destroy(new Error('client went away'))
    },
  })
  await rt.writeFile(id, '/tmp/partial.bin', src).then(
    () => assert.unreachable('the write must fail'),
    (err) => assert.match(String(err), /client went away/),
  )
  await sleep(100)
  const names = (await rt.list(id, '/tmp', 1)).map((e) => e.name)
  assert.not.ok(names.includes('partial.bin'))
  assert.not.ok(names.some((n) => n.startsWith('.nestbox-upload')), names.join(','))
})

test('metrics come from the cgroup counters and the layer', async () => {
  const m0 = await rt.metrics(id)
  await sh(rt, id, 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done')
  const m1 = await rt.metrics(id)
  assert.ok(m1.cpuUsec - m0.cpuUsec > 50_000, `cpu ${m0.cpuUsec} -> ${m1.cpuUsec}`)
  assert.ok(m1.memBytes > 0)
  assert.ok(m1.diskBytes > 0)
})

test.run()
