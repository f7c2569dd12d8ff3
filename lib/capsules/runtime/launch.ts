/**
 * How a request becomes a program in a capsule: who runs it (root, `user`, a uid),
 * its environment and working directory, and which chain starts it — the
 * capsule's warm entry when one waits (warm.ts), else a fresh one (enter.ts).
 */
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { invalid } from '../../core/errors.ts'
import { target as capsuleTarget, type Capsule } from './capsule.ts'
import { aimAt, defaultEnv, earlyWaiterArgv, enterArgv, inCapsulePty, runFor, waiterArgv, type EnterSpec, type EnterTarget } from './enter.ts'
import { startEntered } from './exec.ts'
import { createFileOps } from './files.ts'
import { CAPSULE_USER } from './layer.ts'
import type { ExecRequest } from './types.ts'
import type { WarmPool } from './warm.ts'

const hasScript = existsSync('/usr/bin/script')
/** Entries kept ready for announced execs, at most (CapsuleSpec.firstExecs): each costs a fork of nestbox. */
const MAX_AHEAD = 4

type Request = Pick<ExecRequest, 'cmd' | 'args' | 'envs' | 'cwd' | 'user'>

/** `seccomp`: the syscall filter file every program entered runs under (seccomp.ts). */
export function createLauncher(o: { warm: WarmPool; uidRange: number; seccomp?: string }) {
  const { warm } = o
  const target = (c: Capsule) => ({ ...capsuleTarget(c), seccomp: o.seccomp })

  const uidOf = (user: string | undefined) => {
    if (user === undefined || user === 'root') return 0
    if (user === CAPSULE_USER.name) return CAPSULE_USER.uid
    if (/^\d{1,5}$/.test(user) && Number(user) < o.uidRange) return Number(user)
    throw invalid(`user must be root, ${CAPSULE_USER.name} or a numeric uid`)
  }

  const specFor = (c: Capsule, req: Request, terminal = false): EnterSpec => {
    const uid = uidOf(req.user)
    const home = uid === 0 ? '/root' : uid === CAPSULE_USER.uid ? CAPSULE_USER.home : '/'
    const env = { ...defaultEnv(c.meta.id, uid), ...(terminal ? { TERM: 'xterm-256color' } : {}), ...c.meta.spec.envs, ...req.envs }
    return { cmd: req.cmd, args: req.args ?? [], env, cwd: req.cwd ?? home, uid, session: !terminal }
  }

  /** Has a warm entry wait in `c` (after a boot, after each use). */
  const prime = (c: Capsule) => {
    if (c.state === 'running' && c.pids) warm.prime(c.meta.id, waiterArgv(target(c)))
  }

  /**
   * The same for a capsule still booting, as soon as it can be entered: its
   * first exec, which usually follows a create at once, then finds the entry in
   * place rather than entering (cgroups, namespaces) while it waits. The execs
   * announced to follow it get theirs when it launches (launch).
   */
  const primeBooting = (t: EnterTarget, firstExecs = 1) => {
    warm.announce(t.id, firstExecs)
    if (!warm.aim(t.id, aimAt(t))) warm.prime(t.id, waiterArgv({ ...t, seccomp: o.seccomp }))
  }

  /**
   * Earlier still, while the boot waits for bwrap (its pid 1 unknown yet): the
   * entry joins the cgroups right after the boot's own joins, in the same RCU
   * grace period, and forking it here keeps nestbox's event loop free when the
   * capsule comes up; primeBooting then tells it where to enter.
   */
  const primeStarting = (id: string, procsFiles: string[]) => warm.prime(id, earlyWaiterArgv({ procsFiles, seccomp: o.seccomp }), 1, true)

  /** Starts a program in the capsule: through its warm entry when one is idle, else a fresh nestbox-enter. */
  const launch = (c: Capsule, s: EnterSpec): ChildProcess => {
    const run = runFor(s) // validates the request before any waiter is used
    const child = warm.take(c.meta.id, run) ?? startEntered(enterArgv(target(c), s))
    // When more execs were announced to follow (CapsuleSpec.firstExecs), their entries start now, while this
    // program runs: they join the capsule's cgroups together (a cgroup v1 join waits out an RCU grace period,
    // 10-20 ms here, once per burst) instead of one after another on each exec's path.
    const ahead = Math.min(warm.launched(c.meta.id), MAX_AHEAD)
    if (ahead > 0 && c.state === 'running' && c.pids) {
      const argv = waiterArgv(target(c))
      setImmediate(() => warm.prime(c.meta.id, argv, ahead))
      return child
    }
    // otherwise the next entry starts once this program is done (or well under way), not competing with it for the CPU
    let primed = false
    const next = () => {
      if (primed) return
      primed = true
      prime(c)
    }
    child.once('exit', () => setTimeout(next, 5).unref())
    setTimeout(next, 50).unref()
    return child
  }

  return {
    prime,
    primeStarting,
    primeBooting,
    launch: (c: Capsule, req: Request) => launch(c, specFor(c, req)),
    /** argv for node-pty: the program wrapped so it gets a pty of the capsule's own (enter.ts inCapsulePty). */
    ptyArgv: (c: Capsule, req: Request) => {
      const s = specFor(c, req, true)
      return enterArgv(target(c), hasScript ? inCapsulePty(s) : s)
    },
    /** File operations of `c`, run inside it as root (files.ts). */
    files: (c: Capsule) => {
      const spec = (cmd: string, args: string[]): EnterSpec => ({ cmd, args, env: { PATH: defaultEnv('', 0).PATH, LANG: 'C', HOME: '/root' }, cwd: '/', uid: 0, session: true })
      return createFileOps({
        launch: (cmd, args) => launch(c, spec(cmd, args)),
        // uploads need fd 3 for their commit signal: always a fresh entry
        launchWithPipe: (cmd, args) => startEntered(enterArgv(target(c), spec(cmd, args)), 1),
      })
    },
  }
}
