/** Commands in a running capsule: foreground exec, background processes, listing and killing them. */
import { conflict, invalid, notFound } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import type { Scope } from './access.ts'
import type { CapsuleContext } from './context.ts'
import { parseArgs, parseEnvs, parseTag } from './input.ts'
import type { ExecResult, ProcessHandle, ProcessInfo } from './runtime/types.ts'

export type ExecInput = { cmd: string; args?: string[]; envs?: Record<string, string>; cwd?: string; timeoutSec: number; background: boolean; tag: string | null }

const DEFAULT_EXEC_TIMEOUT_SEC = 30
const MAX_EXEC_TIMEOUT_SEC = 24 * 3600

export function parseExec(body: unknown): ExecInput {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('request body must be a JSON object')
  const b = body as Record<string, unknown>
  if (typeof b.cmd !== 'string' || !b.cmd.trim()) throw invalid('cmd is required')
  const t = b.timeout_sec ?? DEFAULT_EXEC_TIMEOUT_SEC
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > MAX_EXEC_TIMEOUT_SEC) throw invalid(`timeout_sec must be an integer between 0 and ${MAX_EXEC_TIMEOUT_SEC}`)
  if (b.background !== undefined && typeof b.background !== 'boolean') throw invalid('background must be a boolean')
  if (b.cwd !== undefined && (typeof b.cwd !== 'string' || !b.cwd.startsWith('/'))) throw invalid('cwd must be an absolute path')
  return { cmd: b.cmd, args: parseArgs(b.args), envs: parseEnvs(b.envs), cwd: b.cwd as string | undefined, timeoutSec: t, background: b.background === true, tag: parseTag(b.tag) }
}

/**
 * compat(wrenn): a cmd without args is a shell command line (`echo ok`), run by
 * /bin/sh -c; with args, cmd is the program and args its argv.
 */
export const argv = (cmd: string, args?: string[]) => (args && args.length ? { cmd, args } : { cmd: '/bin/sh', args: ['-c', cmd] })

/**
 * A command that waits for one line on stdin before it starts, so a stream can
 * subscribe to its output first (the runtime drops output nobody listens to yet).
 */
const gated = (a: { cmd: string; args: string[] }) => ({ cmd: '/bin/sh', args: ['-c', 'read -r _ || true; exec "$0" "$@"', a.cmd, ...a.args] })
/** Lets a gated command start. */
export const releaseGate = (h: ProcessHandle) => h.writeStdin(new Uint8Array([10]))

/** A process selector from a URL: digits are a pid, anything else a tag. */
export const parseSelector = (sel: string): { pid?: number; tag?: string } => (/^\d{1,9}$/.test(sel) ? { pid: Number(sel) } : { tag: parseTag(sel) ?? '' })

export function createProcessOps(ctx: CapsuleContext) {
  const { runtime } = ctx

  async function findProcess(id: string, selector: string): Promise<ProcessHandle> {
    const sel = parseSelector(selector)
    const h = runtime.getProcess(id, sel)
    if (!h) throw notFound(`no process ${sel.pid !== undefined ? `with pid ${sel.pid}` : `tagged "${sel.tag}"`} in capsule ${id}`, 'process_not_found')
    return h
  }

  const view = (scope: Scope) => {
    const v = {
    /** A Wrenn exec request: foreground (output and exit code) or background (a handle), after the access check. */
    async run(p: Principal, id: string, body: unknown): Promise<{ input: ExecInput } & ({ result: ExecResult } | { handle: ProcessHandle })> {
      await ctx.load(p, scope, id, 'write')
      const input = parseExec(body)
      if (input.background) return { input, handle: await v.spawn(p, id, input) }
      return { input, result: await v.exec(p, id, input) }
    },

    /** Runs a command to completion (timeout_sec, default 30) and returns its output and exit code. */
    async exec(p: Principal, id: string, input: ExecInput): Promise<ExecResult> {
      const row = await ctx.requireRunning(await ctx.load(p, scope, id, 'write'))
      ctx.touch(row.id)
      const a = argv(input.cmd, input.args)
      try {
        return await runtime.exec(row.id, { ...a, envs: input.envs, cwd: input.cwd, timeoutMs: input.timeoutSec * 1000 })
      } catch (err) {
        throw ctx.runtimeError(err, 'exec')
      } finally {
        ctx.touch(row.id)
      }
    },

    /** Starts a background process; its tag (given or generated) finds it later. */
    async spawn(p: Principal, id: string, input: Omit<ExecInput, 'timeoutSec' | 'background'>, opts: { gated?: boolean } = {}): Promise<ProcessHandle> {
      const row = await ctx.requireRunning(await ctx.load(p, scope, id, 'write'))
      ctx.touch(row.id)
      const tag = input.tag ?? ctx.ids.id('proc-', 8)
      if (input.tag && runtime.getProcess(row.id, { tag })) throw conflict(`a process tagged "${tag}" already exists in capsule ${row.id}`, 'already_exists')
      try {
        const a = argv(input.cmd, input.args)
        return await runtime.spawn(row.id, { ...(opts.gated ? gated(a) : a), envs: input.envs, cwd: input.cwd, tag })
      } catch (err) {
        throw ctx.runtimeError(err, 'spawn')
      }
    },

    async list(p: Principal, id: string): Promise<ProcessInfo[]> {
      const row = await ctx.requireRunning(await ctx.load(p, scope, id, 'read'))
      return runtime.listProcesses(row.id)
    },

    async kill(p: Principal, id: string, selector: string, signal: string | undefined): Promise<void> {
      const row = await ctx.requireRunning(await ctx.load(p, scope, id, 'write'))
      const sig = signal ?? 'SIGKILL'
      if (sig !== 'SIGKILL' && sig !== 'SIGTERM') throw invalid('signal must be SIGKILL or SIGTERM')
      const sel = parseSelector(selector)
      const h = runtime.getProcess(row.id, sel)
      if (h) return h.kill(sig)
      // Processes not started through the API (a shell's children, a PTY) are killed by pid.
      if (sel.pid !== undefined && runtime.killProcess && (await runtime.killProcess(row.id, sel.pid, sig))) return
      await findProcess(row.id, selector) // throws the 404
    },

    /** A background process to follow (process output stream). */
    async process(p: Principal, id: string, selector: string): Promise<ProcessHandle> {
      const row = await ctx.requireRunning(await ctx.load(p, scope, id, 'read'))
      return findProcess(row.id, selector)
    },

    /** Checks that the caller may run commands in this capsule now (before a WebSocket upgrade). */
    async assertExecutable(p: Principal, id: string): Promise<void> {
      await ctx.requireRunning(await ctx.load(p, scope, id, 'write'))
    },
    }
    return v
  }
  return { view }
}
