/**
 * The command line that runs a program inside a running capsule, without any agent
 * living in the capsule: nestbox-enter (nestbox-enter.c, a static binary started
 * from the host's filesystem) joins the capsule's cgroups and namespaces, forks
 * into its pid namespace and takes the capsule's final privileges — bounding set,
 * capabilities, uid/gid, no_new_privs, seccomp — before its one exec inside.
 *
 * So no loader, library or program the capsule can change ever runs with more than
 * what the capsule's own processes have; the environment is handed over as
 * arguments and applied only by that last exec.
 */
import { invalid } from '../../core/errors.ts'
import { KEEP_CAPS, SAFE_PATH } from './sandbox.ts'

export type EnterTarget = { id: string; pid1: number; procsFiles: string[]; cgroupns: boolean; seccomp?: string }
export type EnterSpec = {
  cmd: string
  args: string[]
  env: Record<string, string>
  cwd: string
  uid: number
  /**
   * Start the program in a session (and process group) of its own, so it and
   * everything it starts can be signalled together without touching nestbox-enter,
   * which must stay to reap it (false for terminals: the pty is their session).
   */
  session: boolean
}

const ENV_NAME = /^[^=\0]+$/

/** The environment a program sees by default, for root or the `user` account. */
export function defaultEnv(id: string, uid: number): Record<string, string> {
  const user = uid === 0 ? { USER: 'root', HOME: '/root' } : { USER: 'user', HOME: '/home/user' }
  return { PATH: SAFE_PATH, ...user, LOGNAME: user.USER, SHELL: '/bin/bash', LANG: 'C.UTF-8', HOSTNAME: id }
}

function validate(s: EnterSpec) {
  for (const [k, v] of Object.entries(s.env)) {
    if (!ENV_NAME.test(k)) throw invalid(`environment variable name ${JSON.stringify(k.slice(0, 64))} is not valid`)
    if (v.includes('\0')) throw invalid(`environment variable ${k} contains a NUL byte`)
  }
  if (!s.cwd.startsWith('/') || s.cwd.includes('\0')) throw invalid('cwd must be an absolute path')
  if (!s.cmd || s.cmd.includes('\0') || s.args.some((a) => a.includes('\0'))) throw invalid('cmd and args must be non-empty strings without NUL bytes')
}

/** nestbox-enter's options that pick the capsule: cgroups, namespaces, seccomp filter. */
const targetArgs = (t: EnterTarget) => [
  '--pid', String(t.pid1),
  ...(t.cgroupns ? ['--cgroupns'] : []),
  ...joinArgs(t),
]
const joinArgs = (t: Pick<EnterTarget, 'procsFiles' | 'seccomp'>) => [
  ...t.procsFiles.flatMap((f) => ['--cgroup', f]),
  ...(t.seccomp ? ['--seccomp', t.seccomp] : []),
  '--keep-caps', KEEP_CAPS,
]

/** nestbox-enter's options that say what to run and as whom. */
function runArgs(s: EnterSpec): string[] {
  validate(s)
  return [
    '--uid', String(s.uid),
    '--cwd', s.cwd,
    ...(s.session ? ['--session'] : []),
    ...Object.entries(s.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
    '--', s.cmd, ...s.args,
  ]
}

/** argv for nestbox-enter: the program and its arguments, run as `uid` inside the capsule. */
export const enterArgv = (t: EnterTarget, s: EnterSpec): string[] => [...targetArgs(t), ...runArgs(s)]

/** What nestbox-enter prints when the working directory is missing: exit 125 and this. */
export const CWD_FAILED = /^nestbox-enter: cannot change directory to/

/**
 * A warm entry: nestbox-enter started ahead of time, waiting inside the capsule as
 * its root (exactly the privileges the capsule's root has) for what to run on fd 3.
 */
export const waiterArgv = (t: EnterTarget): string[] => [...targetArgs(t), '--wait-fd', '3']

/**
 * A warm entry started while its capsule boots, before its pid 1 exists: it
 * joins the capsule's cgroups at once, then reads "PID CGROUPNS\n" on fd 4
 * (aimAt) and enters; what to run comes on fd 3, as for waiterArgv.
 */
export const earlyWaiterArgv = (t: Pick<EnterTarget, 'procsFiles' | 'seccomp'>): string[] => ['--pid-fd', '4', ...joinArgs(t), '--wait-fd', '3']
export const aimAt = (t: Pick<EnterTarget, 'pid1' | 'cgroupns'>) => `${t.pid1} ${t.cgroupns ? 1 : 0}\n`

/** What a warm entry reads on fd 3 for `s`: the same options enterArgv passes, NUL-separated. */
export const runFor = (s: EnterSpec): string => runArgs(s).join('\0')

/** A shell word: single-quoted, so nothing in it is interpreted. */
export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/**
 * A terminal program wrapped in script(1) (util-linux, on every Debian system):
 * the pty nestbox holds belongs to the host's devpts, which a capsule cannot name
 * (`tty` says "not a tty"); script gives the program a pty of the capsule's own
 * /dev/pts and relays, forwarding window-size changes.
 */
export function inCapsulePty(s: EnterSpec): EnterSpec {
  return { ...s, cmd: '/usr/bin/script', args: ['-qfec', `exec ${[s.cmd, ...s.args].map(q).join(' ')}`, '/dev/null'] }
}
