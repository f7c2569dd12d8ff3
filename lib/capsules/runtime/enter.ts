/**
 * The command line that runs a program inside a running capsule, without any agent
 * living in the capsule:
 *
 *   sh: joins the capsule's cgroups (so limits, freezing and accounting apply) →
 *   nsenter: joins its user, mount, pid, ipc, uts, net (and cgroup) namespaces
 *     and becomes uid/gid `uid` inside; forks into the pid namespace →
 *   setpriv: the capsule's capability bounding set, no_new_privs →
 *   env: a clean environment and working directory → the program.
 *
 * Nothing the caller controls reaches the host-side steps: the environment is
 * applied by the last step, inside the capsule, so e.g. LD_PRELOAD cannot load a
 * capsule file into nsenter while it still runs as host root.
 */
import { invalid } from '../../core/errors.ts'
import { CAPSULE_CAPS, SAFE_PATH } from './sandbox.ts'

export type EnterTarget = { id: string; pid1: number; procsFiles: string[]; cgroupns: boolean }
export type EnterSpec = {
  cmd: string
  args: string[]
  env: Record<string, string>
  cwd: string
  uid: number
  /**
   * Start the program in a session (and process group) of its own, so it and
   * everything it starts can be signalled together without touching nsenter,
   * which must stay to reap it (false for terminals: the pty is their session).
   */
  session: boolean
}

const JOIN = 'p=$$; while [ "$1" != -- ]; do echo $p > "$1" || { echo "nestbox: cannot join the capsule cgroup" >&2; exit 255; }; shift; done; shift; exec "$@"'
const BOUNDING = `--bounding-set=-all,${CAPSULE_CAPS.map((c) => `+${c}`).join(',')}`
const ENV_NAME = /^[^=\0]+$/

/** The environment a program sees by default, for root or the `user` account. */
export function defaultEnv(id: string, uid: number): Record<string, string> {
  const user = uid === 0 ? { USER: 'root', HOME: '/root' } : { USER: 'user', HOME: '/home/user' }
  return { PATH: SAFE_PATH, ...user, LOGNAME: user.USER, SHELL: '/bin/bash', LANG: 'C.UTF-8', HOSTNAME: id }
}

/** argv for spawn(): the program and its arguments, run as `uid` inside the capsule. */
export function enterArgv(t: EnterTarget, s: EnterSpec): string[] {
  for (const [k, v] of Object.entries(s.env)) {
    if (!ENV_NAME.test(k)) throw invalid(`environment variable name ${JSON.stringify(k.slice(0, 64))} is not valid`)
    if (v.includes('\0')) throw invalid(`environment variable ${k} contains a NUL byte`)
  }
  if (!s.cwd.startsWith('/') || s.cwd.includes('\0')) throw invalid('cwd must be an absolute path')
  if (!s.cmd || s.cmd.includes('\0') || s.args.some((a) => a.includes('\0'))) throw invalid('cmd and args must be non-empty strings without NUL bytes')
  // env(1) would read a program name containing '=' as one more variable
  const prog = s.cmd.includes('=') ? ['/bin/sh', '-c', 'exec "$0" "$@"', s.cmd, ...s.args] : [s.cmd, ...s.args]
  const ns = ['-t', String(t.pid1), '-U', '-m', '-p', '-i', '-u', '-n', ...(t.cgroupns ? ['-C'] : []), '-S', String(s.uid), '-G', String(s.uid)]
  const priv = s.uid === 0 ? [BOUNDING, '--inh-caps=-all', '--no-new-privs'] : ['--no-new-privs']
  return [
    '-c', JOIN, 'nestbox-enter', ...t.procsFiles, '--',
    '/usr/bin/nsenter', ...ns, '--',
    '/usr/bin/setpriv', ...priv, '--',
    ...(s.session ? ['/usr/bin/setsid', '--'] : []),
    '/usr/bin/env', '-i', '-C', s.cwd, '--', ...Object.entries(s.env).map(([k, v]) => `${k}=${v}`),
    ...prog,
  ]
}

/** What env(1) prints when the working directory is missing: exit 125 and this. */
export const CWD_FAILED = /^(?:\/usr\/bin\/)?env: cannot change directory to/

// fd 3 is a socket (node's pipes are socketpairs), which /dev/fd/3 cannot open:
// the script is read line by line (dash reads it a byte at a time) until EOF, then run.
const WAIT = `s=''; while IFS= read -r l <&3 || [ -n "$l" ]; do s="$s$l
"; l=''; done; exec 3<&-; eval "$s"`

/** A shell word: single-quoted, so nothing in it is interpreted. */
export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/**
 * A warm entry: the chain above run ahead of time (as root, with the capsule's
 * bounding set and no_new_privs), ending in a shell that waits for a script on
 * fd 3 (see scriptFor) and runs it once fd 3 is closed. Nothing the caller
 * controls is in the chain.
 */
export function waiterArgv(t: EnterTarget): string[] {
  const ns = ['-t', String(t.pid1), '-U', '-m', '-p', '-i', '-u', '-n', ...(t.cgroupns ? ['-C'] : []), '-S', '0', '-G', '0']
  return [
    '-c', JOIN, 'nestbox-enter', ...t.procsFiles, '--',
    '/usr/bin/nsenter', ...ns, '--',
    '/usr/bin/setpriv', BOUNDING, '--inh-caps=-all', '--no-new-privs', '--',
    '/usr/bin/env', '-i', '--', `PATH=${SAFE_PATH}`, '/bin/sh', '-c', WAIT,
  ]
}

/** What a warm entry runs for `s`: the same last steps as enterArgv, as one exec line. */
export function scriptFor(s: EnterSpec): string {
  const argv = enterArgv({ id: '', pid1: 0, procsFiles: [], cgroupns: false }, s) // validates, and gives the exact tail
  const tail = argv.slice(argv.indexOf('/usr/bin/setpriv'))
  // the waiter already is root with the bounding set and no_new_privs: only a uid change remains
  const rest = tail.slice(tail.indexOf('--') + 1)
  const become = s.uid === 0 ? [] : ['/usr/bin/setpriv', `--reuid=${s.uid}`, `--regid=${s.uid}`, '--clear-groups', '--']
  return `exec ${[...become, ...rest].map(q).join(' ')}\n`
}

/**
 * A terminal program wrapped in script(1) (util-linux, on every Debian system):
 * the pty nestbox holds belongs to the host's devpts, which a capsule cannot name
 * (`tty` says "not a tty"); script gives the program a pty of the capsule's own
 * /dev/pts and relays, forwarding window-size changes.
 */
export function inCapsulePty(s: EnterSpec): EnterSpec {
  return { ...s, cmd: '/usr/bin/script', args: ['-qfec', `exec ${[s.cmd, ...s.args].map(q).join(' ')}`, '/dev/null'] }
}
