/**
 * Repo runs of the cloudbox API: who may run (the cloudbox token or a nestbox
 * account of the team), starting a run (at most N at once, the rest queued),
 * live receipts for SSE readers, the stored results (team-scoped, purged after
 * the retention time).
 */
import { forbidden, notFound, unauthorized } from '../core/errors.ts'
import type { Db } from '../core/db.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import { roleAtLeast, type Principal } from '../core/principal.ts'
import { safeEqual, sha256hex } from '../core/secrets.ts'
import { parseRunInput, type RepoPolicy, type RunInput } from './input.ts'
import type { RunEvent, RunOutcome, Runner } from './runner.ts'
import { deleteRunsBefore, failInterruptedRuns, findRun, finishRun, insertRun, recentRuns } from './store.ts'

export type RunCaller = { teamId: string; canWrite: boolean }
export type RunResult = { runId: string; ok: boolean } & Omit<RunOutcome, 'ok'>
export type RunAnswer = { status: 200 | 422 | 503; body: RunResult }

type Live = { events: RunEvent[]; listeners: Set<(e: RunEvent | null) => void>; done: Promise<RunAnswer> }

export type RunsDeps = {
  db: Db
  clock: Clock
  ids: IdGen
  log: Logger
  runner: Runner
  policy: RepoPolicy
  maxConcurrent: number
  retentionMs: number
  /** The cloudbox token's hash and team, once known. */
  token: () => { hash: string; teamId: string } | null
}

/** 200 when every step passed, 422 with the whole result when a step failed, 503 when the capsule never got to run a step. */
const statusOf = (o: RunOutcome): RunAnswer['status'] => (o.ok ? 200 : o.receipts.length ? 422 : 503)
const stored = { 200: 'passed', 422: 'failed', 503: 'error' } as const

export function createRuns(d: RunsDeps) {
  const live = new Map<string, Live>()
  let closing = false
  let running = 0
  const queue: Array<() => void> = []
  const slot = async () => {
    if (running >= d.maxConcurrent) await new Promise<void>((res) => queue.push(res))
    running++
  }
  const release = () => {
    running--
    queue.shift()?.()
  }

  async function execute(runId: string, teamId: string, input: RunInput, l: Live): Promise<RunAnswer> {
    const t0 = performance.now()
    const emit = (e: RunEvent) => {
      l.events.push(e)
      for (const fn of l.listeners) fn(e)
    }
    await slot()
    let outcome: RunOutcome
    try {
      const r = await d.runner(runId, teamId, input, emit)
      outcome = r.outcome
      // The answer does not wait for the capsule's teardown; the slot does, so at most N capsules exist. The
      // teardown starts a timer tick later, once the answer is written: run alongside, it delayed it by 10-15 ms.
      setTimeout(() => void r.teardown().finally(release), 0)
    } catch (err) {
      release()
      throw err
    }
    // steps cut by the shutdown (the capsules go with it) are not the run's result: the row stays running and the next start marks it interrupted
    if (closing) return { status: 503, body: { runId, ...outcome, ok: false, error: 'the run was interrupted (nestbox is stopping)' } }
    const status = statusOf(outcome)
    const response = { type: 'runner.response', event: 'runner.response', ts: new Date().toISOString(), status, elapsedMs: Math.round(performance.now() - t0) }
    outcome.runnerReceipts.push(response)
    emit({ kind: 'runner', receipt: response })
    const body: RunResult = { runId, ...outcome }
    await finishRun(d.db, runId, { status: stored[status], result: JSON.stringify(body), finished_at: d.clock.now(), capsule_id: outcome.capsuleId ?? null }).catch((err) => d.log.error('run result not stored', { run: runId, err }))
    return { status, body }
  }

  const runView = (row: { id: string; status: string; result: string | null; created_at: number; finished_at: number | null; repo: string }) => {
    const result = row.result ? (JSON.parse(row.result) as RunResult) : null
    const base = { runId: row.id, repo: row.repo, status: row.status, createdAt: new Date(row.created_at).toISOString(), finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null }
    if (result) return { ...result, ...base }
    if (row.status === 'running') return { ...base, ok: false, receipts: live.get(row.id)?.events.filter((e) => e.kind === 'receipt').map((e) => e.receipt) ?? [] }
    return { ...base, ok: false, receipts: [], runnerReceipts: [], artifact: null, diff: '', error: 'the run was interrupted (nestbox stopped during it)' }
  }

  const api = {
    /** The caller of a request: a nestbox account of a team, or the cloudbox token (its team, full rights). */
    caller(p: Principal, token: string | undefined): RunCaller {
      if ((p.kind === 'api_key' || p.kind === 'user') && p.teamId) return { teamId: p.teamId, canWrite: roleAtLeast(p.role, 'member') }
      if (!token) throw unauthorized('missing Authorization: Bearer token or x-cloudbox-token')
      const t = d.token()
      if (!t || !safeEqual(sha256hex(token), t.hash)) throw unauthorized('invalid token', 'invalid_token')
      return { teamId: t.teamId, canWrite: true }
    },

    /** Validates and starts a run; `done` settles with the answer once it finished. */
    async start(c: RunCaller, body: unknown): Promise<{ runId: string; input: RunInput; done: Promise<RunAnswer> }> {
      if (!c.canWrite) throw forbidden('viewers can read runs but not start them', 'insufficient_role')
      const input = parseRunInput(body, d.policy)
      const runId = `run_${d.ids.uuid()}`
      const { async: _a, source: _s, ...request } = input
      await insertRun(d.db, { id: runId, team_id: c.teamId, repo: input.repo, status: 'running', request: JSON.stringify(request), result: null, artifact_path: input.artifact, capsule_id: null, created_at: d.clock.now(), finished_at: null })
      const l: Live = { events: [], listeners: new Set(), done: Promise.resolve(null as never) }
      live.set(runId, l)
      l.done = execute(runId, c.teamId, input, l).finally(() => {
        live.delete(runId)
        for (const fn of l.listeners) fn(null)
      })
      l.done.catch((err) => d.log.error('run crashed', { run: runId, err }))
      return { runId, input, done: l.done }
    },

    async get(c: RunCaller, runId: string) {
      const row = await findRun(d.db, c.teamId, runId)
      if (!row) throw notFound(`run ${runId.slice(0, 80)} not found`, 'run_not_found')
      return runView(row)
    },

    /** The newest 20 runs of the caller's team. */
    async recent(c: RunCaller) {
      const rows = await recentRuns(d.db, c.teamId, 20)
      return { runs: rows.map((r) => ({ id: r.id, createdAt: new Date(r.created_at).toISOString(), repo: r.repo, status: r.status, artifact: r.artifact_path })) }
    },

    /**
     * Follows a run: `onEvent` gets every receipt so far and then each new one; resolves with the final
     * answer (the stored one for a finished run). `unsubscribe` stops the following early.
     */
    async follow(c: RunCaller, runId: string, onEvent: (e: RunEvent) => void): Promise<{ finished: Promise<unknown>; unsubscribe: () => void }> {
      const row = await findRun(d.db, c.teamId, runId)
      if (!row) throw notFound(`run ${runId.slice(0, 80)} not found`, 'run_not_found')
      const l = live.get(runId)
      if (!l) {
        // read again: the run may have finished since the row above was read
        const v = runView((await findRun(d.db, c.teamId, runId)) ?? row) as Partial<RunResult>
        for (const r of v.runnerReceipts ?? []) onEvent({ kind: 'runner', receipt: r })
        for (const r of v.receipts ?? []) onEvent({ kind: 'receipt', receipt: r })
        return { finished: Promise.resolve(v), unsubscribe: () => {} }
      }
      for (const e of l.events) onEvent(e)
      let stop = () => {}
      const finished = new Promise<unknown>((resolve) => {
        const fn = (e: RunEvent | null) => (e ? onEvent(e) : resolve(api.get(c, runId)))
        l.listeners.add(fn)
        stop = () => {
          l.listeners.delete(fn)
          resolve(null)
        }
      })
      return { finished, unsubscribe: stop }
    },

    /** At start: runs a stopped process left running are marked as interrupted. */
    recover: () => failInterruptedRuns(d.db, d.clock.now()),
    purge: () => deleteRunsBefore(d.db, d.clock.now() - d.retentionMs),
    /** Shutdown began: runs that finish from now on are left to be marked interrupted at the next start. */
    closing: () => void (closing = true),
    /** Waits for the runs in flight. */
    drain: () => Promise.allSettled([...live.values()].map((l) => l.done)),
  }
  return api
}
export type Runs = ReturnType<typeof createRuns>
