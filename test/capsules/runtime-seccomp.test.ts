/**
 * The syscall filter in real capsules (seccomp.ts): every process a capsule has
 * runs under it, each blocked family fails with EPERM where the kernel alone
 * would have let it through (checked against a capsule of a runtime without the
 * filter), nothing is killed, and ordinary work still works.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { SYSCALLS } from '../../lib/capsules/runtime/seccomp.ts'
import type { Runtime } from '../../lib/capsules/runtime/types.ts'
import { sh, sleep, spec, testRuntime } from './runtime-helpers.ts'

const t = testRuntime()
// the same host without the filter: what the kernel alone answers (its own uid ranges, past t's 16 slots)
const bare = testRuntime({ seccomp: false, uidBase: t.uidBase + 16 * 65_536 })
const { rt } = t
const work = mkdtempSync(join(tmpdir(), 'nestbox-seccomp-'))
const cap = spec()
const bareCap = spec()
test.before(async () => {
  await Promise.all([rt.create(cap), bare.rt.create(bareCap)])
})
test.after(async () => {
  await Promise.all([t.close(), bare.close()])
  rmSync(work, { recursive: true, force: true })
})

const put = (r: Runtime, id: string, path: string, data: Buffer | string, mode = 0o644) => r.writeFile(id, path, Readable.from([Buffer.from(data)]), { mode })

/** Calls each syscall with python3's ctypes and prints {name: "ok" | strerror}. */
const PROBE = `import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = json.loads(sys.argv[1])
buf = ctypes.create_string_buffer(256)
s = lambda x: ctypes.c_char_p(x.encode())
me = os.getpid()
pidfd = libc.syscall(NR['pidfd_open'], me, 0)
calls = {
  'io_uring_setup': (1, buf), 'io_uring_enter': (-1, 0, 0, 0, 0, 0), 'io_uring_register': (-1, 0, 0, 0),
  'kexec_load': (0, 0, 0, 0), 'kexec_file_load': (-1, -1, 0, 0, 0),
  'init_module': (0, 0, s('')), 'finit_module': (-1, s(''), 0), 'delete_module': (s('nestbox_none'), 0),
  'bpf': (0, buf, 72), 'perf_event_open': (buf, 0, -1, -1, 0), 'userfaultfd': (1 | 0o2000000,),
  'keyctl': (0, -2, 1), 'add_key': (s('user'), s('k'), s('v'), 1, -2), 'request_key': (s('user'), s('nope'), 0, 0),
  'fsopen': (s('tmpfs'), 0), 'fsconfig': (-1, 0, 0, 0, 0), 'fsmount': (-1, 0, 0), 'fspick': (-100, s('/'), 0),
  'move_mount': (-1, s(''), -1, s(''), 0), 'open_tree': (-100, s('/'), 0), 'mount_setattr': (-1, s(''), 0, 0, 0),
  'mount': (s('none'), s('/tmp'), s('tmpfs'), 0, 0), 'umount2': (s('/proc'), 0), 'pivot_root': (s('/'), s('/')),
  'setns': (-1, 0), 'swapon': (s('/nonexistent'), 0), 'swapoff': (s('/nonexistent'),), 'reboot': (0, 0, 0, 0),
  'acct': (0,), 'settimeofday': (0, 0), 'clock_settime': (0, buf), 'quotactl': (0, 0, 0, 0), 'syslog': (10, 0, 0),
  'lookup_dcookie': (0, 0, 0), 'nfsservctl': (0, 0, 0), 'open_by_handle_at': (-1, 0, 0),
  'kcmp': (me, me, 1, 0, 0), 'pidfd_getfd': (pidfd, 0, 0), 'process_madvise': (-1, 0, 0, 0, 0),
  'fanotify_init': (0, 0), 'sethostname': (s('x'), 1), 'setdomainname': (s('x'), 1), 'vhangup': (),
  'iopl': (0,), 'ioperm': (0, 1, 0), 'uselib': (s('/nonexistent'),),
  'unshare(CLONE_NEWUSER)': ('unshare', 0x10000000), 'unshare(CLONE_NEWNS)': ('unshare', 0x20000),
  'clone(CLONE_NEWUSER)': ('clone', 0x10000000 | 17, 0, 0, 0, 0), 'clone3': (0, 0),
  'personality(ADDR_NO_RANDOMIZE)': ('personality', 0x40000), 'socket(AF_VSOCK)': ('socket', 40, 1, 0),
  'x32 getpid': (0x40000000 | 39,),
}
out = {}
for name, args in calls.items():
  if name == 'x32 getpid': nr, args = args[0], ()
  elif args and isinstance(args[0], str): nr, args = NR[args[0]], args[1:]
  else: nr = NR[name]
  ctypes.set_errno(0)
  r = libc.syscall(nr, *args)
  out[name] = 'ok' if r >= 0 else os.strerror(ctypes.get_errno())
print(json.dumps(out))
`

async function probe(r: Runtime, id: string): Promise<Record<string, string>> {
  await put(r, id, '/tmp/probe.py', PROBE)
  const res = await r.exec(id, { cmd: 'python3', args: ['/tmp/probe.py', JSON.stringify({ ...SYSCALLS.x64, pidfd_open: 434 })], timeoutMs: 20_000 })
  assert.is(res.exitCode, 0, `the probe ran to its end, killed by nothing: ${res.stderr}`)
  return JSON.parse(res.stdout.toString())
}

test('the filter is written once, 0600, in the runtime data dir, and is out of the capsule view', async () => {
  const file = join(t.dataDir, 'runtime', 'seccomp.bpf')
  const st = statSync(file)
  assert.is(st.mode & 0o777, 0o600)
  assert.is(st.uid, 0)
  assert.is(st.size % 8, 0)
  const seen = await sh(rt, cap.id, `test -e ${file} && echo visible || echo hidden`)
  assert.is(seen.out, 'hidden\n')
})

test('every process of a capsule runs under the filter: pid 1, the anchor, execs, background, terminal, file operations', async () => {
  const bg = await rt.spawn(cap.id, { cmd: '/bin/sleep', args: ['30'], tag: 'bg' })
  const bgUser = await rt.spawn(cap.id, { cmd: '/bin/sleep', args: ['31'], user: 'user' })
  const term = await rt.pty(cap.id, { cmd: '/bin/sleep', args: ['32'], cols: 80, rows: 24 })
  const reading = await rt.readFile(cap.id, '/usr/bin/python3') // a large file: its reader is still running below
  try {
    await sleep(100)
    const r = await sh(rt, cap.id, 'for s in /proc/[0-9]*/status; do tr "\\n" " " < $s; echo; done')
    const ownFilters = Number(/Seccomp_filters:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1])
    const procs = r.out.trim().split('\n').filter((l) => l.includes('Seccomp:'))
    const names = procs.map((p) => /Name:\s+(\S+)/.exec(p)![1])
    for (const n of ['sleep', 'script', 'sh']) assert.ok(names.includes(n), `${n} among ${names}`)
    assert.ok(procs.some((p) => /(?:^|\s)Pid:\s+1\s/.test(p)), 'pid 1 seen')
    assert.ok(procs.length >= 7, `processes seen: ${procs.length} (${names})`)
    for (const p of procs) {
      const what = `${/Name:\s+(\S+)/.exec(p)![1]} (pid ${/(?:^|\s)Pid:\s+(\d+)/.exec(p)![1]})`
      assert.match(p, /Seccomp:\s+2\s/, `${what}: in filter mode`)
      assert.is(Number(/Seccomp_filters:\s+(\d+)/.exec(p)![1]), ownFilters + 1, `${what}: nestbox's filter over whatever nestbox itself runs under`)
    }
  } finally {
    reading.stream.destroy()
    bg.kill()
    bgUser.kill()
    term.kill()
  }
})

test('each blocked family fails with EPERM (clone3 ENOSYS), where the kernel alone would have answered otherwise', async () => {
  const [got, kernel] = await Promise.all([probe(rt, cap.id), probe(bare.rt, bareCap.id)])
  assert.ok(Object.keys(got).length >= 50)
  for (const [name, answer] of Object.entries(got)) assert.is(answer, name === 'clone3' ? 'Function not implemented' : 'Operation not permitted', name)
  // without the filter these work, or fail for another reason: the filter is what stops them
  const kernelAlone: Record<string, string> = {
    open_tree: 'ok', keyctl: 'ok', add_key: 'ok', kcmp: 'ok', pidfd_getfd: 'ok', userfaultfd: 'ok',
    'personality(ADDR_NO_RANDOMIZE)': 'ok', setns: 'Bad file descriptor', io_uring_enter: 'Bad file descriptor',
    process_madvise: 'Bad file descriptor', clone3: 'Invalid argument', 'unshare(CLONE_NEWUSER)': 'No space left on device',
  }
  for (const [name, answer] of Object.entries(kernelAlone)) assert.is(kernel[name], answer, `${name} without the filter`)
  const differ = Object.keys(got).filter((k) => kernel[k] !== got[k])
  assert.ok(differ.length >= 25, `answers the filter changed: ${differ.length}`)
  // nothing was killed: the capsule and its way in are still there
  assert.is(rt.status!(cap.id), 'running')
  assert.is((await sh(rt, cap.id, 'echo still here')).out, 'still here\n')
})

test('unshare -U fails inside, fork and threads do not; the 32-bit entry is closed', async () => {
  const u = await sh(rt, cap.id, 'unshare -U true')
  assert.is.not(u.code, 0)
  assert.match(u.err, /Operation not permitted/)
  const fork = await sh(rt, cap.id, `python3 -c 'import os, threading
pid = os.fork()
if pid == 0: os._exit(7)
_, st = os.waitpid(pid, 0)
t = threading.Thread(target=lambda: print("thread ran")); t.start(); t.join()
print("child exit", os.waitstatus_to_exitcode(st))'`)
  assert.is(fork.out, 'thread ran\nchild exit 7\n', fork.err)
  // getpid through int 0x80 (the i386 entry) from a 64-bit program
  const src = join(work, 'int80.c')
  writeFileSync(src, `#include <stdio.h>
#include <unistd.h>
int main(void) {
  long r;
  __asm__ volatile ("int $0x80" : "=a"(r) : "a"(20L) : "memory");
  printf("%ld %d\\n", r, (int)getpid());
  return 0;
}
`)
  execFileSync('cc', ['-static', '-O1', '-o', join(work, 'int80'), src])
  const bin = readFileSync(join(work, 'int80'))
  await put(rt, cap.id, '/tmp/int80', bin, 0o755)
  await put(bare.rt, bareCap.id, '/tmp/int80', bin, 0o755)
  const [filtered, kernel] = await Promise.all([sh(rt, cap.id, '/tmp/int80'), sh(bare.rt, bareCap.id, '/tmp/int80')])
  assert.is(filtered.code, 0, filtered.err)
  assert.is(filtered.out.split(' ')[0], '-1', 'int 0x80 answers -EPERM')
  const [r, pid] = kernel.out.trim().split(' ')
  assert.is(r, pid, 'without the filter the i386 getpid answers the pid')
})

test('ordinary work keeps working: bash, python3, node, git, cc, npm, strace', async () => {
  const script = `set -e
bash -c 'a=(1 2 3); echo "bash \${#a[@]}"'
python3 -c 'import subprocess, sqlite3, hashlib; print("python", subprocess.check_output(["echo", "sub"]).decode().strip(), sqlite3.connect(":memory:").execute("select 40+2").fetchone()[0])'
node -e 'const { Worker } = require("node:worker_threads"); const cp = require("node:child_process"); new Worker("require(\\"node:worker_threads\\").parentPort.postMessage(6*7)", { eval: true }).on("message", (m) => console.log("node", m, cp.execFileSync("echo", ["sub"]).toString().trim(), require("node:fs").readFileSync("/etc/hostname", "utf8").length > 0))'
mkdir -p /tmp/repo && cd /tmp/repo && git init -q && git config user.email a@b && git config user.name a && echo hi > f && git add f && git commit -qm first && echo "git $(git log --format=%s)"
cat > /tmp/p.c <<'C'
#include <stdio.h>
#include <pthread.h>
static void *run(void *a) { return a; }
int main(void) { pthread_t t; void *r; pthread_create(&t, 0, run, "cc"); pthread_join(t, &r); printf("%s ok\\n", (char *)r); return 0; }
C
cc -O1 -pthread -o /tmp/p /tmp/p.c && /tmp/p
mkdir -p /tmp/dep /tmp/app && cd /tmp/dep && printf '{"name":"dep","version":"1.0.0","main":"i.js"}' > package.json && echo 'module.exports = 42' > i.js && npm pack -q >/dev/null
cd /tmp/app && echo '{"name":"app","version":"1.0.0"}' > package.json && npm install -q --offline --no-audit --no-fund /tmp/dep/dep-1.0.0.tgz >/dev/null && node -e 'console.log("npm", require("dep"))'
strace -f -o /dev/null true && echo strace ok
`
  const r = await sh(rt, cap.id, script, { timeoutMs: 120_000 })
  assert.is(r.code, 0, r.err)
  assert.is(r.out, 'bash 3\npython sub 42\nnode 42 sub true\ngit first\ncc ok\nnpm 42\nstrace ok\n', r.err)
  assert.match((await sh(rt, cap.id, 'npm --version')).out, /^\d+\.\d+\.\d+\n$/)
})

test.run()
