/**
 * The syscall filter every capsule process runs under: a classic BPF program
 * (struct sock_filter[], 8 bytes an instruction, host byte order) as bwrap's
 * `--seccomp FD` and nestbox-enter's `--seccomp FILE` take it, generated here so
 * no C toolchain or libseccomp is needed at run time.
 *
 * A denylist after Docker's default profile for a container without
 * CAP_SYS_ADMIN (and gVisor's choices): the kernel interfaces most privilege
 * escalations go through fail with EPERM, everything else is allowed, so
 * ordinary programs keep working. Blocked calls never kill: a program sees an
 * error it can handle.
 *
 * - Only the host's native ABI: another arch (i386 via `int 0x80`, arm32 compat)
 *   and x32 syscalls (nr | 0x40000000) fail with EPERM.
 * - clone and unshare fail when their flags ask for a new namespace; clone3
 *   passes its flags in memory a filter cannot read, so it fails with ENOSYS and
 *   libc falls back to clone (Docker does the same).
 * - personality: only the values Docker allows (query, PER_LINUX, PER_LINUX32,
 *   UNAME26 variants); ADDR_NO_RANDOMIZE and the rest fail.
 * - socket(AF_VSOCK): vsock is not namespaced, it would reach the hypervisor.
 * - ptrace and process_vm_readv/writev stay allowed, as in Docker on kernels
 *   ≥ 4.8 (the filter runs after a tracer's changes, so a tracer cannot smuggle a
 *   blocked call): a capsule sees only its own pid namespace and has no
 *   CAP_SYS_PTRACE, and strace/gdb inside keep working. kcmp, pidfd_getfd and
 *   process_madvise, which Docker ties to CAP_SYS_PTRACE, are blocked.
 * - adjtimex/clock_adjtime stay allowed for reading, as in Docker (setting the
 *   clock needs CAP_SYS_TIME); settimeofday/clock_settime are blocked.
 */
import { chmodSync, writeFileSync } from 'node:fs'
import { arch as hostArch, endianness } from 'node:os'

export type SeccompArch = 'x64' | 'arm64'

/** Blocked with EPERM, on every arch where the call exists. */
export const BLOCKED = [
  'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module',
  'bpf', 'perf_event_open', 'userfaultfd', 'keyctl', 'add_key', 'request_key',
  'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'open_tree_attr', 'mount_setattr',
  'mount', 'umount2', 'pivot_root', 'setns', 'swapon', 'swapoff', 'reboot', 'acct',
  'settimeofday', 'clock_settime', 'quotactl', 'quotactl_fd', 'syslog', 'lookup_dcookie', 'nfsservctl',
  'open_by_handle_at', 'kcmp', 'pidfd_getfd', 'process_madvise', 'fanotify_init',
  'sethostname', 'setdomainname', 'vhangup', 'iopl', 'ioperm', 'uselib',
] as const

/** Syscall numbers (asm/unistd_64.h; asm-generic/unistd.h for arm64); absent where the call does not exist. */
export const SYSCALLS: Record<SeccompArch, Record<string, number>> = {
  x64: {
    io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
    kexec_load: 246, kexec_file_load: 320, init_module: 175, finit_module: 313, delete_module: 176,
    bpf: 321, perf_event_open: 298, userfaultfd: 323, keyctl: 250, add_key: 248, request_key: 249,
    fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, move_mount: 429, open_tree: 428, open_tree_attr: 467, mount_setattr: 442,
    mount: 165, umount2: 166, pivot_root: 155, setns: 308, swapon: 167, swapoff: 168, reboot: 169, acct: 163,
    settimeofday: 164, clock_settime: 227, quotactl: 179, quotactl_fd: 443, syslog: 103, lookup_dcookie: 212, nfsservctl: 180,
    open_by_handle_at: 304, kcmp: 312, pidfd_getfd: 438, process_madvise: 440, fanotify_init: 300,
    sethostname: 170, setdomainname: 171, vhangup: 153, iopl: 172, ioperm: 173, uselib: 134,
    clone: 56, clone3: 435, unshare: 272, personality: 135, socket: 41,
  },
  arm64: {
    io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
    kexec_load: 104, kexec_file_load: 294, init_module: 105, finit_module: 273, delete_module: 106,
    bpf: 280, perf_event_open: 241, userfaultfd: 282, keyctl: 219, add_key: 217, request_key: 218,
    fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, move_mount: 429, open_tree: 428, open_tree_attr: 467, mount_setattr: 442,
    mount: 40, umount2: 39, pivot_root: 41, setns: 268, swapon: 224, swapoff: 225, reboot: 142, acct: 89,
    settimeofday: 170, clock_settime: 112, quotactl: 60, quotactl_fd: 443, syslog: 116, lookup_dcookie: 18, nfsservctl: 42,
    open_by_handle_at: 265, kcmp: 272, pidfd_getfd: 438, process_madvise: 440, fanotify_init: 262,
    sethostname: 161, setdomainname: 162, vhangup: 58,
    clone: 220, clone3: 435, unshare: 97, personality: 92, socket: 198,
  },
}

/** linux/audit.h: the only arch a capsule process may call in. */
export const AUDIT_ARCH: Record<SeccompArch, number> = { x64: 0xc000003e, arm64: 0xc00000b7 }
export const AUDIT_ARCH_I386 = 0x40000003
export const X32_SYSCALL_BIT = 0x40000000

/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET, as Docker masks clone's flags. */
export const CLONE_NS_FLAGS = 0x7e020000
const CLONE_NEWTIME = 0x80 // unshare only: in clone's flags this bit is part of the exit signal
/** personality(2) values Docker allows: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query. */
export const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff]
const AF_VSOCK = 40

export const RET_ALLOW = 0x7fff0000
const RET_ERRNO = 0x00050000
export const EPERM = 1
export const ENOSYS = 38

// classic BPF opcodes (linux/filter.h)
const LD_W_ABS = 0x20
const JEQ = 0x15
const JSET = 0x45
const RET = 0x06

export type Insn = { code: number; jt: number; jf: number; k: number }
type Target = string | null // a label, or null: the next instruction
type Line = { label: string } | { code: number; jt: Target; jf: Target; k: number }

/** Resolves labels into forward jump offsets; a classic BPF jump reaches at most 255 instructions. */
export function assemble(lines: Line[]): Insn[] {
  const at = new Map<string, number>()
  const insns: Extract<Line, { code: number }>[] = []
  for (const l of lines) {
    if ('label' in l) {
      if (at.has(l.label)) throw new Error(`label ${l.label} defined twice`)
      at.set(l.label, insns.length)
    } else insns.push(l)
  }
  const offset = (t: Target, i: number) => {
    if (t === null) return 0
    const to = at.get(t)
    if (to === undefined) throw new Error(`label ${t} is not defined`)
    const off = to - i - 1
    if (off < 0 || off > 255) throw new Error(`jump to ${t} out of reach (${off})`)
    return off
  }
  return insns.map((l, i) => ({ code: l.code, jt: offset(l.jt, i), jf: offset(l.jf, i), k: l.k >>> 0 }))
}

const ld = (offset: number): Line => ({ code: LD_W_ABS, jt: null, jf: null, k: offset })
const jeq = (k: number, jt: Target, jf: Target = null): Line => ({ code: JEQ, jt, jf, k })
const jset = (k: number, jt: Target, jf: Target = null): Line => ({ code: JSET, jt, jf, k })
const ret = (k: number): Line => ({ code: RET, jt: null, jf: null, k })

/** struct seccomp_data: nr at 0, arch at 4, args[6] (u64) from 16; the low word of args[i]. */
const NR = 0
const ARCH = 4
const argLow = (i: number, le = endianness() === 'LE') => 16 + 8 * i + (le ? 0 : 4)

/** The filter's instructions for `arch`. */
export function seccompProgram(arch: SeccompArch): Insn[] {
  const nr = SYSCALLS[arch]
  const lines: Line[] = [ld(ARCH), jeq(AUDIT_ARCH[arch], null, 'deny'), ld(NR)]
  if (arch === 'x64') {
    // -1 is how a tracer skips a call (the kernel answers ENOSYS); anything else with the x32 bit is the x32 ABI
    lines.push(jeq(0xffffffff, 'allow'), jset(X32_SYSCALL_BIT, 'deny'))
  }
  for (const name of BLOCKED) if (nr[name] !== undefined) lines.push(jeq(nr[name], 'deny'))
  lines.push(
    jeq(nr.clone3, 'enosys'),
    jeq(nr.clone, 'clone'),
    jeq(nr.unshare, 'unshare'),
    jeq(nr.personality, 'personality'),
    jeq(nr.socket, 'socket'),
    ret(RET_ALLOW),
    { label: 'clone' }, ld(argLow(0)), jset(CLONE_NS_FLAGS, 'deny', 'allow'),
    { label: 'unshare' }, ld(argLow(0)), jset(CLONE_NS_FLAGS | CLONE_NEWTIME, 'deny', 'allow'),
    { label: 'personality' }, ld(argLow(0)), ...PERSONALITIES.map((p) => jeq(p, 'allow')), ret(RET_ERRNO | EPERM),
    { label: 'socket' }, ld(argLow(0)), jeq(AF_VSOCK, 'deny', 'allow'),
    { label: 'allow' }, ret(RET_ALLOW),
    { label: 'deny' }, ret(RET_ERRNO | EPERM),
    { label: 'enosys' }, ret(RET_ERRNO | ENOSYS),
  )
  return assemble(lines)
}

/** The program as the kernel takes it: struct sock_filter { u16 code; u8 jt, jf; u32 k; } in host byte order. */
export function encode(insns: Insn[], le = endianness() === 'LE'): Buffer {
  const b = Buffer.alloc(insns.length * 8)
  insns.forEach((x, i) => {
    if (le) {
      b.writeUInt16LE(x.code, i * 8)
      b.writeUInt32LE(x.k, i * 8 + 4)
    } else {
      b.writeUInt16BE(x.code, i * 8)
      b.writeUInt32BE(x.k, i * 8 + 4)
    }
    b[i * 8 + 2] = x.jt
    b[i * 8 + 3] = x.jf
  })
  return b
}

/** The host's arch, if the filter knows its syscall table. */
export function nativeArch(): SeccompArch {
  const a = hostArch()
  if (a === 'x64' || a === 'arm64') return a
  throw new Error(`no capsule syscall filter for ${a} (x64 and arm64 have one); set capsules.process.seccomp=false to run capsules without one`)
}

/** Writes the host's filter to `path` (0600: read by nestbox-enter and bwrap as host root) and returns the path. */
export function writeSeccompFilter(path: string): string {
  writeFileSync(path, encode(seccompProgram(nativeArch())), { mode: 0o600 })
  chmodSync(path, 0o600)
  return path
}
