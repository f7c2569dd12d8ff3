/**
 * Running programs inside a capsule: foreground exec (collect output, timeout)
 * and background processes whose output fans out to any number of readers.
 *
 * The program is the forked child of the entry chain's nsenter (enter.ts), in a
 * process group of its own; its host pid, read from /proc, is how we signal it
 * and learn its pid inside the capsule.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { ExecResult, ProcessHandle } from './types.ts'

/** Bytes of each stream a foreground exec keeps; the rest is dropped. */
const EXEC_OUTPUT_CAP = 16 * 1024 * 1024
/** After the program exits, how long to wait for output still in the pipes. */
const DRAIN_MS = 100

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }
const exitCodeOf = (code: number | null, sig: NodeJS.Signals | null) => code ?? 128 + (sig ? (SIGNALS[sig] ?? 9) : 9)

/** Starts an entry chain; `extraPipe` adds fd 3 (a side channel to the program). */
export function startEntered(argv: string[], extraPipe = false): ChildProcess {
  const child = spawn('/bin/sh', argv, { stdio: extraPipe ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'], detached: true, env: {} })
  // a program that dies mid-write resets its pipes: its exit status tells, not a stream error
  for (const s of child.stdio) s?.on('error', () => {})
  return child
}

/** The program's host pid: the only child of the nsenter process, once it has forked. */
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
 * never the nsenter above it: nsenter must live to reap it, or the program's
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
  child.stdout!.on('data', (d: Buffer) => {
    if (outLen < EXEC_OUTPUT_CAP) out.push(d)
    outLen += d.length
  })
  child.stderr!.on('data', (d: Buffer) => {
    if (errLen < EXEC_OUTPUT_CAP) err.push(d)
    errLen += d.length
  })
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
      // a background grandchild may hold the pipes open: take what is there, then stop reading
      let ends = 0
      const finish = () => {
        clearTimeout(drain)
        child.stdout!.destroy()
        child.stderr!.destroy()
        const cap = (b: Buffer[]) => {
          const all = Buffer.concat(b)
          return all.length > EXEC_OUTPUT_CAP ? all.subarray(0, EXEC_OUTPUT_CAP) : all
        }
        resolve({ exitCode: timedOut ? 137 : exitCodeOf(code, sig), stdout: cap(out), stderr: cap(err), durationMs: Math.round(performance.now() - t0), timedOut })
      }
      const drain = setTimeout(finish, DRAIN_MS)
      const ended = () => ++ends === 2 && finish()
      if (child.stdout!.readableEnded) ended()
      else child.stdout!.once('end', ended)
      if (child.stderr!.readableEnded) ended()
      else child.stderr!.once('end', ended)
    })
  })
}

type Listener = (chunk: Buffer) => void

/** A background program; readers subscribe to its output, which is always drained. */
export async function startBackground(child: ChildProcess, meta: { tag: string | null; cmd: string; args: string[] }) {
  const outs = new Set<Listener>()
  const errs = new Set<Listener>()
  child.stdout!.on('data', (d: Buffer) => outs.forEach((f) => f(d)))
  child.stderr!.on('data', (d: Buffer) => errs.forEach((f) => f(d)))
  child.stdin!.on('error', () => {})
  let running = true
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => resolve(127))
    child.on('exit', (code, sig) => {
      running = false
      // let output still in the pipes reach readers before announcing the exit
      let settled = false
      const done = () => {
        if (settled) return
        settled = true
        resolve(exitCodeOf(code, sig))
      }
      child.once('close', done)
      setTimeout(done, DRAIN_MS).unref()
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
    writeStdin(data) {
      if (running && child.stdin!.writable) child.stdin!.write(Buffer.from(data))
    },
  }
  return handle
}
export type BackgroundProcess = Awaited<ReturnType<typeof startBackground>>
