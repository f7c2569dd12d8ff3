/**
 * Runs one template build: a capsule from the base template (through the capsule
 * service), the recipe's steps in it with their output and timings logged and
 * streamed as build.log events, the healthcheck, then a snapshot as a platform
 * template. The capsule is always destroyed; a cancelled build leaves no template.
 */
import { dirname } from 'node:path'
import { Readable } from 'node:stream'
import { fetch, type Agent } from 'undici'
import type { Config } from '../../core/config/index.ts'
import type { Db } from '../../core/db.ts'
import type { EventBus } from '../../core/events.ts'
import type { Clock } from '../../core/ids.ts'
import type { Logger } from '../../core/logger.ts'
import { system } from '../../core/principal.ts'
import type { CapsuleService } from '../../capsules/service.ts'
import { releaseGate } from '../../capsules/processes.ts'
import type { ProcessHandle } from '../../capsules/runtime/types.ts'
import type { BuildRow } from '../tables.ts'
import { parseDestination } from '../channels/destination.ts'
import { parseHealthcheck, type Step } from './recipe.ts'
import { updateBuild } from './store.ts'

export type LogEntry = { step: number | 'healthcheck'; instruction: string; status: 'running' | 'success' | 'failed' | 'cancelled'; exit_code?: number; output: string; started_at: number; finished_at?: number; duration_ms?: number }
/** Set by cancel(): the runner stops at the next step, and `kill` ends the step in flight. */
export type Control = { cancelled: boolean; reason: string; kill: (() => void) | null }

export class BuildStop extends Error {}

type Deps = { db: Db; bus: EventBus; clock: Clock; log: Logger; capsules: CapsuleService; agent: Agent; settings: Config['events']['builds']; allowPrivate: boolean }

const sleep = (ms: number, ctl: Control) =>
  new Promise<void>((res) => {
    const t = setTimeout(res, ctl.cancelled ? 0 : ms)
    ctl.kill = () => (clearTimeout(t), res())
  })

export function createBuildRunner(d: Deps) {
  const admin = d.capsules.admin
  const publish = (b: BuildRow, type: string, data: Record<string, unknown>) => d.bus.publish({ type, teamId: null, resourceType: 'build', resourceId: b.id, data: { build_id: b.id, name: b.name, ...data } })

  /** Output of one step: kept up to maxLogBytes, streamed in batches (at most every 200 ms). */
  function collector(b: BuildRow, entry: LogEntry) {
    let pending = ''
    let timer: NodeJS.Timeout | undefined
    let truncated = false
    const flush = () => {
      clearTimeout(timer)
      timer = undefined
      if (pending) publish(b, 'build.log', { step: entry.step, data: pending })
      pending = ''
    }
    return {
      add(chunk: Buffer) {
        const text = chunk.toString('utf8')
        if (entry.output.length + text.length > d.settings.maxLogBytes) {
          if (!truncated) entry.output += '\n[output truncated]\n'
          truncated = true
          return
        }
        entry.output += text
        pending += text
        if (pending.length > 16_384) flush()
        else timer ??= setTimeout(flush, 200)
      },
      flush,
    }
  }

  /** Ends a step's process and everything it started (a shell's children keep its pipes open): the capsule goes. */
  const abort = (h: ProcessHandle, sandbox: string) => {
    h.kill('SIGKILL')
    void admin.destroy(system, sandbox).catch(() => {})
  }

  async function wait(h: ProcessHandle, sandbox: string, timeoutMs: number, ctl: Control): Promise<number | 'timeout'> {
    let timedOut = false
    const t = setTimeout(() => ((timedOut = true), abort(h, sandbox)), timeoutMs)
    ctl.kill = () => abort(h, sandbox)
    if (ctl.cancelled) ctl.kill() // cancelled while the process was starting
    try {
      const code = await h.exited
      return timedOut ? 'timeout' : code
    } finally {
      clearTimeout(t)
      ctl.kill = null
    }
  }

  async function shell(b: BuildRow, sandbox: string, entry: LogEntry, cmd: string, env: Record<string, string>, cwd: string | undefined, timeoutMs: number, ctl: Control) {
    const h = await admin.processes.spawn(system, sandbox, { cmd, envs: env, cwd, tag: null }, { gated: true })
    const out = collector(b, entry)
    h.onStdout(out.add)
    h.onStderr(out.add)
    releaseGate(h)
    const code = await wait(h, sandbox, timeoutMs, ctl)
    out.flush()
    return code
  }

  async function step(b: BuildRow, sandbox: string, s: Step, entry: LogEntry, st: { env: Record<string, string>; cwd: string | undefined }, ctl: Control): Promise<void> {
    switch (s.kind) {
      case 'ENV':
        st.env[s.key] = s.value
        return
      case 'WORKDIR': {
        const r = await admin.processes.exec(system, sandbox, { cmd: 'mkdir', args: ['-p', s.path], timeoutSec: 30, background: false, tag: null })
        if (r.exitCode !== 0) throw new BuildStop(`WORKDIR ${s.path}: ${(r.stderr.toString() || r.stdout.toString()).trim().slice(0, 200)}`)
        st.cwd = s.path
        return
      }
      case 'START': {
        const h = await admin.processes.spawn(system, sandbox, { cmd: s.cmd, envs: st.env, cwd: st.cwd, tag: null })
        entry.output = `started pid ${h.pid}\n`
        return
      }
      case 'ADD': {
        parseDestination(s.url, 'ADD url', d.allowPrivate)
        const res = await fetch(s.url, { dispatcher: d.agent, redirect: 'follow', signal: AbortSignal.timeout(d.settings.stepTimeoutSec * 1000) })
        if (!res.ok || !res.body) throw new BuildStop(`ADD ${s.url}: the server answered ${res.status}`)
        const dir = dirname(s.dest)
        await admin.processes.exec(system, sandbox, { cmd: 'mkdir', args: ['-p', dir], timeoutSec: 30, background: false, tag: null })
        const { size } = await admin.files.write(system, sandbox, s.dest, Readable.fromWeb(res.body as never))
        entry.output = `${size} bytes → ${s.dest}\n`
        return
      }
      case 'RUN': {
        const code = await shell(b, sandbox, entry, s.cmd, st.env, st.cwd, s.timeoutMs ?? d.settings.stepTimeoutSec * 1000, ctl)
        if (ctl.cancelled) return
        if (code === 'timeout') throw new BuildStop(`step ${entry.step} (${s.raw.slice(0, 80)}) timed out`)
        entry.exit_code = code
        if (code !== 0) throw new BuildStop(`step ${entry.step} (${s.raw.slice(0, 80)}) exited with code ${code}`)
      }
    }
  }

  async function healthcheck(b: BuildRow, sandbox: string, entry: LogEntry, st: { env: Record<string, string>; cwd: string | undefined }, ctl: Control) {
    const hc = parseHealthcheck(b.healthcheck)!
    await sleep(hc.startPeriodMs, ctl)
    const deadline = d.clock.now() + d.settings.healthcheckMaxSec * 1000
    for (let n = 1; !ctl.cancelled; n++) {
      const code = await shell(b, sandbox, entry, hc.cmd, st.env, st.cwd, hc.timeoutMs, ctl)
      if (code === 0) return
      entry.exit_code = code === 'timeout' ? undefined : code
      if ((hc.retries > 0 && n >= hc.retries) || d.clock.now() + hc.intervalMs > deadline) throw new BuildStop(`healthcheck failed after ${n} attempt(s)`)
      await sleep(hc.intervalMs, ctl)
    }
  }

  /** Runs `b` (already marked running) to its end; returns the outcome for the service to record. */
  return async function run(b: BuildRow, steps: Step[], ctl: Control): Promise<{ status: 'success' | 'failed' | 'cancelled'; error: string | null; templateId: string | null; logs: LogEntry[] }> {
    const logs: LogEntry[] = []
    let sandbox: string | null = null
    let templateId: string | null = null
    const save = (patch: Partial<BuildRow> = {}) => updateBuild(d.db, b.id, { logs: JSON.stringify(logs), ...patch })
    const begin = async (stepNo: number | 'healthcheck', instruction: string) => {
      const entry: LogEntry = { step: stepNo, instruction, status: 'running', output: '', started_at: d.clock.now() }
      logs.push(entry)
      await save(typeof stepNo === 'number' ? { current_step: stepNo } : {})
      publish(b, 'build.step', { step: stepNo, instruction, status: 'running' })
      return entry
    }
    const end = async (entry: LogEntry, status: LogEntry['status']) => {
      entry.status = status
      entry.finished_at = d.clock.now()
      entry.duration_ms = entry.finished_at - entry.started_at
      await save()
      publish(b, 'build.step', { step: entry.step, instruction: entry.instruction, status, exit_code: entry.exit_code ?? null, duration_ms: entry.duration_ms })
    }
    try {
      const cap = await admin.create(system, { template: b.base_template, team_id: b.team_id, timeout_sec: 0, metadata: { build_id: b.id }, ...(b.vcpus ? { vcpus: b.vcpus } : {}), ...(b.memory_mb ? { memory_mb: b.memory_mb } : {}) })
      sandbox = cap.id
      await save({ sandbox_id: sandbox })
      const st: { env: Record<string, string>; cwd: string | undefined } = { env: {}, cwd: undefined }
      for (const [i, s] of steps.entries()) {
        if (ctl.cancelled) break
        const entry = await begin(i + 1, s.raw)
        try {
          await step(b, sandbox, s, entry, st, ctl)
        } catch (err) {
          await end(entry, ctl.cancelled ? 'cancelled' : 'failed')
          throw err
        }
        await end(entry, ctl.cancelled ? 'cancelled' : 'success')
      }
      if (b.healthcheck && !ctl.cancelled) {
        const entry = await begin('healthcheck', b.healthcheck)
        try {
          await healthcheck(b, sandbox, entry, st, ctl)
        } catch (err) {
          await end(entry, ctl.cancelled ? 'cancelled' : 'failed')
          throw err
        }
        await end(entry, ctl.cancelled ? 'cancelled' : 'success')
      }
      if (!ctl.cancelled) templateId = (await admin.snapshots.snapshot(system, sandbox, b.name, { global: true, metadata: { build_id: b.id } })).id
      if (ctl.cancelled) throw new BuildStop(ctl.reason)
      return { status: 'success', error: null, templateId, logs }
    } catch (err) {
      if (templateId) await admin.snapshots.remove(system, b.name).catch((e) => d.log.error('removing a cancelled build template failed', { err: e, build: b.id }))
      if (ctl.cancelled) return { status: ctl.reason === 'cancelled' ? 'cancelled' : 'failed', error: ctl.reason === 'cancelled' ? null : ctl.reason, templateId: null, logs }
      if (!(err instanceof BuildStop)) d.log.warn('build failed', { build: b.id, err })
      return { status: 'failed', error: err instanceof Error ? err.message : String(err), templateId: null, logs }
    } finally {
      if (sandbox)
        await admin.destroy(system, sandbox).catch((err) => {
          if ((err as { status?: number }).status !== 404) d.log.error('destroying a build capsule failed', { err, build: b.id, sandbox })
        })
    }
  }
}
export type BuildRunner = ReturnType<typeof createBuildRunner>
