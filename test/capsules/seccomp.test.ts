/**
 * The capsule syscall filter as a program (seccomp.ts): its syscall numbers
 * against the kernel headers, and what it answers for every syscall number,
 * arch and argument that matters, run through a classic BPF interpreter over
 * its encoded bytes. runtime-seccomp.test.ts checks it in real capsules.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { assemble, AUDIT_ARCH, AUDIT_ARCH_I386, encode, seccompProgram, SYSCALLS, type SeccompArch } from '../../lib/capsules/runtime/seccomp.ts'
import { runFilter } from './cbpf.ts'

const ALLOW = 0x7fff0000
const EPERM = 0x00050001
const ENOSYS = 0x00050026

/** What the issue and Docker's default profile (no CAP_SYS_ADMIN) close, by name. */
const MUST_BLOCK = [
  'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'kexec_load', 'kexec_file_load',
  'init_module', 'finit_module', 'delete_module', 'bpf', 'perf_event_open', 'userfaultfd',
  'keyctl', 'add_key', 'request_key', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree',
  'mount_setattr', 'mount', 'umount2', 'pivot_root', 'setns', 'swapon', 'swapoff', 'reboot', 'acct',
  'settimeofday', 'clock_settime', 'quotactl', 'syslog', 'lookup_dcookie', 'open_by_handle_at', 'kcmp', 'pidfd_getfd',
]
/** What ordinary programs need, gdb and strace included. */
const MUST_ALLOW = ['read', 'write', 'openat', 'mmap', 'execve', 'fork', 'vfork', 'wait4', 'ptrace', 'process_vm_readv', 'chroot', 'socketpair', 'adjtimex', 'name_to_handle_at', 'seccomp', 'prctl', 'setsid', 'capset', 'pidfd_open']

/** `#define __NR_name number` lines of a kernel header. */
function header(path: string): Map<string, number> {
  const m = new Map<string, number>()
  for (const [, name, nr] of readFileSync(path, 'utf8').matchAll(/^#define __NR(?:3264)?_(\w+)\s+(\d+)\s*$/gm)) m.set(name, Number(nr))
  return m
}
const HEADERS: Record<SeccompArch, Map<string, number>> = {
  x64: header('/usr/include/x86_64-linux-gnu/asm/unistd_64.h'),
  arm64: header('/usr/include/asm-generic/unistd.h'),
}

const prog = (arch: SeccompArch) => encode(seccompProgram(arch), true)
const call = (arch: SeccompArch, name: string, ...args: (number | bigint)[]) => runFilter(prog(arch), { arch: AUDIT_ARCH[arch], nr: HEADERS[arch].get(name)!, args })

test('every syscall number in the filter is the kernel header one (or newer than the header knows)', () => {
  for (const arch of ['x64', 'arm64'] as const) {
    const h = HEADERS[arch]
    assert.ok(h.size > 250, `${arch}: header parsed`)
    const newest = Math.max(...h.values())
    for (const [name, nr] of Object.entries(SYSCALLS[arch])) {
      if (h.has(name)) assert.is(nr, h.get(name), `${arch} ${name}`)
      else assert.ok(nr > newest, `${arch} ${name} (${nr}) is neither in the header nor newer than it (${newest})`)
    }
  }
})

test('the blocked families fail with EPERM, clone3 with ENOSYS, on x86_64 and aarch64', () => {
  for (const arch of ['x64', 'arm64'] as const) {
    for (const name of MUST_BLOCK) assert.is(call(arch, name), EPERM, `${arch} ${name}`)
    assert.is(call(arch, 'clone3'), ENOSYS, `${arch} clone3`)
    for (const name of MUST_ALLOW) if (HEADERS[arch].has(name)) assert.is(call(arch, name), ALLOW, `${arch} ${name}`)
  }
  // x86 only
  for (const name of ['iopl', 'ioperm', 'uselib']) assert.is(call('x64', name), EPERM, name)
  assert.is(call('x64', 'arch_prctl'), ALLOW)
  assert.is(call('x64', 'modify_ldt'), ALLOW)
})

test('a denylist: every other syscall number of the native arch is allowed', () => {
  const p = prog('x64')
  const special = new Set([...Object.values(SYSCALLS.x64)])
  let allowed = 0
  for (let nr = 0; nr < 600; nr++) {
    if (special.has(nr)) continue
    assert.is(runFilter(p, { arch: AUDIT_ARCH.x64, nr }), ALLOW, `nr ${nr}`)
    allowed++
  }
  assert.ok(allowed > 500)
  // -1 is a tracer skipping a call: the kernel answers ENOSYS itself
  assert.is(runFilter(p, { arch: AUDIT_ARCH.x64, nr: -1 }), ALLOW)
})

test('the 32-bit entry and x32 are closed: every call fails with EPERM', () => {
  const p = prog('x64')
  for (const nr of [0, 1, 20, 39, 120, 173, 375]) {
    assert.is(runFilter(p, { arch: AUDIT_ARCH_I386, nr }), EPERM, `i386 ${nr}`)
    assert.is(runFilter(p, { arch: AUDIT_ARCH.x64, nr: 0x40000000 | nr }), EPERM, `x32 ${nr}`)
  }
  assert.is(runFilter(p, { arch: AUDIT_ARCH.arm64, nr: 0 }), EPERM, 'another 64-bit arch')
  const arm = prog('arm64')
  assert.is(runFilter(arm, { arch: 0x40000028, nr: 0 }), EPERM, 'arm32 compat on aarch64')
  assert.is(runFilter(arm, { arch: AUDIT_ARCH.x64, nr: 0 }), EPERM)
  assert.is(runFilter(arm, { arch: AUDIT_ARCH.arm64, nr: 0x40000000 | 63 }), ALLOW, 'no x32 rule on aarch64: such numbers are ENOSYS there')
})

test('clone and unshare: new namespaces fail, threads and forks do not', () => {
  const SIGCHLD = 17
  const THREAD = 0x3d0f00 // what glibc's pthread_create passes
  for (const arch of ['x64', 'arm64'] as const) {
    assert.is(call(arch, 'clone', SIGCHLD), ALLOW, 'fork')
    assert.is(call(arch, 'clone', THREAD), ALLOW, 'thread')
    assert.is(call(arch, 'clone', 0x4000 | 0x100 | SIGCHLD), ALLOW, 'vfork-like')
    for (const ns of [0x10000000, 0x20000, 0x4000000, 0x8000000, 0x20000000, 0x40000000, 0x2000000]) {
      assert.is(call(arch, 'clone', ns | SIGCHLD), EPERM, `clone ${ns.toString(16)}`)
      assert.is(call(arch, 'unshare', ns), EPERM, `unshare ${ns.toString(16)}`)
    }
    // high bits of the u64 do not hide the flag: the kernel reads the low word
    assert.is(call(arch, 'clone', (1n << 40n) | 0x10000000n), EPERM)
    assert.is(call(arch, 'unshare', 0x80), EPERM, 'CLONE_NEWTIME')
    assert.is(call(arch, 'unshare', 0x400 | 0x200), ALLOW, 'CLONE_FILES | CLONE_FS')
    assert.is(call(arch, 'unshare', 0), ALLOW)
  }
})

test('personality: the values Docker allows, nothing else', () => {
  for (const v of [0, 8, 0x20000, 0x20008, 0xffffffff]) assert.is(call('x64', 'personality', v), ALLOW, v.toString(16))
  for (const v of [0x40000, 0x0040008, 0x400000, 0x1, 0x8000000]) assert.is(call('x64', 'personality', v), EPERM, v.toString(16))
})

test('socket: AF_VSOCK (not namespaced) fails, the usual families do not', () => {
  assert.is(call('x64', 'socket', 40, 1, 0), EPERM)
  for (const fam of [1, 2, 10, 16]) assert.is(call('x64', 'socket', fam, 1, 0), ALLOW, `family ${fam}`)
})

test('encoding: struct sock_filter, 8 bytes each, in the asked byte order', () => {
  const insns = seccompProgram('x64')
  const le = encode(insns, true)
  const be = encode(insns, false)
  assert.is(le.length, insns.length * 8)
  assert.ok(insns.length < 4096)
  // ld [4] (the arch); then jeq AUDIT_ARCH_X86_64
  assert.equal([...le.subarray(0, 8)], [0x20, 0, 0, 0, 4, 0, 0, 0])
  assert.equal([...be.subarray(0, 8)], [0, 0x20, 0, 0, 0, 0, 0, 4])
  assert.equal([...le.subarray(8, 16)], [0x15, 0, 0, insns[1].jf, 0x3e, 0, 0, 0xc0])
  assert.ok(insns[1].jf > 0)
})

test('the assembler refuses unknown or repeated labels and jumps out of reach', () => {
  const ret = { code: 6, jt: null, jf: null, k: 0 }
  assert.throws(() => assemble([{ code: 0x15, jt: 'nowhere', jf: null, k: 1 }, ret]), /not defined/)
  assert.throws(() => assemble([{ label: 'a' }, { label: 'a' }, ret]), /twice/)
  assert.throws(() => assemble([{ label: 'back' }, { code: 0x15, jt: 'back', jf: null, k: 1 }, ret]), /out of reach/)
  const far = [{ code: 0x15, jt: 'end', jf: null, k: 1 }, ...Array.from({ length: 256 }, () => ret), { label: 'end' }, ret]
  assert.throws(() => assemble(far), /out of reach/)
  assert.is(assemble(far.slice(0, 1).concat(far.slice(2)))[0].jt, 255)
})

test.run()
