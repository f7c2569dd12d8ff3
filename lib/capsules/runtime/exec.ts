/**
 * Running programs inside a capsule: foreground exec (collect output, timeout)
 * and background processes whose output fans out to any number of readers.
 *
 * The program is the forked child of nestbox-enter (enter.ts), in a
 * process group of its own; its host pid, read from /proc, is how we signal it
 * and learn its pid inside the capsule.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { discard, settleOutput } from './drain.ts'
import { enterHelperPath } from './enter-helper.ts'
import type { ExecResult, ProcessHandle } from './types.ts'

/** Bytes of each stream a foreground exec keeps; the rest is dropped. */
const EXEC_OUTPUT_CAP = 16 * 1024 * 1024

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }
const exitCodeOf = (code: number | null, sig: NodeJS.Signals | null) => code ?? 128 + (sig ? (SIGNALS[sig] ?? 9) : 9)

/** Starts nestbox-enter with `argv` (enter.ts); `extraPipes` adds fd 3 (a side channel to the program, or what a warm entry runs), and fd 4 (where an early one learns its capsule). */
export function startEntered(argv: string[], extraPipes: 0 | 1 | 2 = 0): ChildProcess {
  const child = spawn(enterHelperPath(), argv, { stdio: ['pipe', 'pipe', 'pipe', ...Array<'pipe'>(extraPipes).fill('pipe')], detached: true, env: {} })
  // a program that dies mid-write resets its pipes: its exit status tells, not a stream error
  for (const s of child.stdio) s?.on('error', () => {})
  return child
}

/** The program's host pid: the only child of nestbox-enter, once it has forked. */
export async function programPid(chainPid: number, alive: () => boolean): Promise<number | null> {
  for (let i = 0; i < 5000 && alive(); i++) {
    try {
      const kids = readFileSync(`/proc/${chainPid}/task/${chainPid}/children`, 'utf8').trim()
      if (kids) return Number(kids.split(/\s+/)[0])
    } catch {
      return null
    }
    await new Promise((r) => (i < 50 ? setImmediate(r) : setTimeout(r, 1)))
  }
  return null
}

/** The pid a host process has inside the innermost pid namespace it belongs to. */
export function nsPid(hostPid: number): number | null {
  try {
    const line = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${hostPid}/status`, 'utf8'))?.[1]
    const ids = line?.trim().split(/\s+/).map(Number)
    return ids && ids.length > 1 ? ids[ids.length - 1] : null
  } catch {
    return null
  }
}

/**
 * Signals the program (and, being a group leader, everything in its group) but
 * never nestbox-enter above it: that must live to reap it, or the program's
 * zombie would go to the host's init, which may reap late, and the capsule's pid 1
 * would wait for it when the capsule is destroyed.
 */
export function signalProgram(chainPid: number, sig: NodeJS.Signals, programHostPid?: number | null) {
  let pid = programHostPid
  if (!pid) {
    try {
      pid = Number(readFileSync(`/proc/${chainPid}/task/${chainPid}/children`, 'utf8').trim().split(/\s+/)[0]) || null
    } catch {
      pid = null
    }
  }
  if (!pid) return
  try {
    process.kill(-pid, sig)
  } catch {
    try {
      process.kill(pid, sig)
    } catch {
      // gone
    }
  }
}

/** Runs a started entry chain to completion; on timeout the program's group is killed and `timedOut` set. */
export function runForeground(child: ChildProcess, opts: { timeoutMs?: number; stdin?: Uint8Array }): Promise<ExecResult> {
  const t0 = performance.now()
  const out: Buffer[] = []
  const err: Buffer[] = []
  let outLen = 0
  let errLen = 0
  const onOut = (d: Buffer) => {
    if (outLen < EXEC_OUTPUT_CAP) out.push(d)
    outLen += d.length
  }
  const onErr = (d: Buffer) => {
    if (errLen < EXEC_OUTPUT_CAP) err.push(d)
    errLen += d.length
  }
  child.stdout!.on('data', onOut)
  child.stderr!.on('data', onErr)
  child.stdin!.on('error', () => {})
  child.stdin!.end(opts.stdin ? Buffer.from(opts.stdin) : undefined)
  return new Promise((resolve, reject) => {
    let timedOut = false
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true
          signalProgram(child.pid!, 'SIGKILL')
        }, opts.timeoutMs)
      : null
    child.on('error', (e) => {
      if (timer) clearTimeout(timer)
      reject(e)
    })
    child.on('exit', (code, sig) => {
      if (timer) clearTimeout(timer)
      // everything written before the exit is queued in the pipes: read it all (drain.ts)
      void settleOutput([[child.stdout!, onOut], [child.stderr!, onErr]]).then(() => {
        const cap = (b: Buffer[]) => {
          const all = Buffer.concat(b)
          return all.length > EXEC_OUTPUT_CAP ? all.subarray(0, EXEC_OUTPUT_CAP) : all
        }
        resolve({ exitCode: timedOut ? 137 : exitCodeOf(code, sig), stdout: cap(out), stderr: cap(err), durationMs: Math.round(performance.now() - t0), timedOut })
      })
    })
  })
}

type Listener = (chunk: Buffer) => void

/** A background program; readers subscribe to its output, which is always drained. */
export async function startBackground(child: ChildProcess, meta: { tag: string | null; cmd: string; args: string[] }) {
  const outs = new Set<Listener>()
  const errs = new Set<Listener>()
  const onOut = (d: Buffer) => (outs.size ? outs.forEach((f) => f(d)) : discard(d))
  const onErr = (d: Buffer) => (errs.size ? errs.forEach((f) => f(d)) : discard(d))
  child.stdout!.on('data', onOut)
  child.stderr!.on('data', onErr)
  child.stdin!.on('error', () => {})
  let running = true
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => resolve(127))
    child.on('exit', (code, sig) => {
      running = false
      // readers get everything written before the exit, then the exit (drain.ts)
      void settleOutput([[child.stdout!, onOut], [child.stderr!, onErr]]).then(() => resolve(exitCodeOf(code, sig)))
    })
  })
  const hostPid = await programPid(child.pid!, () => running)
  const pid = (hostPid && nsPid(hostPid)) ?? -1
  const handle: ProcessHandle & { hostPid: number | null; startedAt: number; cmd: string; args: string[] } = {
    pid,
    tag: meta.tag,
    hostPid,
    startedAt: Date.now(),
    cmd: meta.cmd,
    args: meta.args,
    exited,
    onStdout(fn) {
      outs.add(fn)
      return () => outs.delete(fn)
    },
    onStderr(fn) {
      errs.add(fn)
      return () => errs.delete(fn)
    },
    kill(signal = 'SIGKILL') {
      if (running) signalProgram(child.pid!, signal, hostPid)
    },
    // flow control: a paused handle stops reading the pipes, so the program blocks once they fill
    pause() {
      child.stdout!.pause()
      child.stderr!.pause()
    },
    resume() {
      child.stdout!.resume()
      child.stderr!.resume()
    },
    writeStdin(data) {
      if (running && child.stdin!.writable) child.stdin!.write(Buffer.from(data))
    },
  }
  return handle
}
export type BackgroundProcess = Awaited<ReturnType<typeof startBackground>>
