/**
 * One repo run in a fresh capsule (the team's spare, booted ahead by spares.ts,
 * or one booted now): readiness attempts, clone, each command and verify step
 * with `bash -lc` in the repository, then the diff and the artifact. Every step
 * leaves a receipt, handed to `emit` as it finishes.
 * The outcome is ready before the capsule is gone: the caller answers, then
 * calls `teardown` (settled at once when the run keeps its capsule) and holds
 * the run's slot until it settles.
 */
import { join } from 'node:path'
import type { Logger } from '../core/logger.ts'
import { system } from '../core/principal.ts'
import type { CapsuleService } from '../capsules/service.ts'
import type { ExecResult } from '../capsules/runtime/types.ts'
import type { RunInput } from './input.ts'
import { receiptText } from './output.ts'
import type { Spares } from './spares.ts'

export type Receipt = { type: 'clone' | 'command' | 'verify' | 'diff'; cmd: string; code: number | null; signal: string | null; stdout: string; stderr: string; startedAt: string; finishedAt: string; timedOut?: boolean }
export type RunnerReceipt = { type: string; event: string; ts: string } & Record<string, unknown>
export type RunOutcome = { ok: boolean; receipts: Receipt[]; runnerReceipts: RunnerReceipt[]; artifact: { path: string; content: string } | null; diff: string; error?: string; capsuleId?: string }
export type RunDone = { outcome: RunOutcome; teardown: () => Promise<void> }
export type RunEvent = { kind: 'receipt'; receipt: Receipt } | { kind: 'runner'; receipt: RunnerReceipt }

export const REPO_DIR = '/work/repo'
/** Where a local repository is bound (read-only, that repository only: not its root's other repositories). */
export const LOCAL_REPO_INSIDE = '/mnt/nestbox-repo'
const CLONE_TIMEOUT_MS = 300_000
const READY_ATTEMPTS = 3
const MAX_DIFF_CHARS = 4_000_000
const MAX_ARTIFACT_CHARS = 4_000_000

// Local repositories are served by a git upload-pack running inside the capsule over a read-only bind owned by
// another uid: safe.directory (honoured only in a global config, here one of the clone's own) and filters/commit ids.
const LOCAL_GIT_ENV = { NESTBOX_LOCAL_REPO: '1', GIT_CONFIG_COUNT: '2', GIT_CONFIG_KEY_0: 'uploadpack.allowFilter', GIT_CONFIG_VALUE_0: 'true', GIT_CONFIG_KEY_1: 'uploadpack.allowAnySHA1InWant', GIT_CONFIG_VALUE_1: 'true' }

// $1 url, $2 ref ('' = the remote's HEAD), $3 shallow|blobless, $4… sparse paths. Fetching the ref works for branches, tags and commit ids alike.
// Every process costs a few ms here, so what needs none is done by bash: the remote is written as `git remote add`
// writes it (quoted: a URL may hold ; or #, never " or \ or a newline, which new URL() encodes), and the commit
// checked out is read from HEAD.
const CLONE_SCRIPT = `set -e
url=$1 ref=\${2:-HEAD} mode=$3; shift 3
if [ -n "$NESTBOX_LOCAL_REPO" ]; then export GIT_CONFIG_GLOBAL=/tmp/.nestbox-clone.gitconfig; printf '[safe]\\n\\tdirectory = *\\n' > "$GIT_CONFIG_GLOBAL"; fi
git init -q ${REPO_DIR} && cd ${REPO_DIR}
printf '[remote "origin"]\\n\\turl = "%s"\\n\\tfetch = +refs/heads/*:refs/remotes/origin/*\\n' "$url" >> .git/config
if [ $# -gt 0 ]; then git sparse-checkout set --no-cone -- "$@"; fi
if [ "$mode" = blobless ]; then git fetch -q --filter=blob:none origin "$ref"; else git fetch -q --depth 1 origin "$ref"; fi
git checkout -q --detach FETCH_HEAD
read -r head < .git/HEAD && echo "$head"`

// Tracked changes and new untracked files (not ignored ones), as one patch.
const DIFF_SCRIPT = 'git add -A -N . && git -c core.quotepath=off diff --binary HEAD'
// The artifact, only when it resolves (symlinks too) to a regular file inside the repository.
const ARTIFACT_SCRIPT = `p=$(realpath -e -- "$1") || exit 2; case "$p" in ${REPO_DIR}/*) [ -f "$p" ] && exec cat -- "$p";; esac; exit 3`

const sq = (s: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)

export type RunnerDeps = { capsules: CapsuleService; log: Logger; network: { https: 'internet'; local: 'nestbox' | 'none' }; memoryMb: number; spares?: Spares }

export function createRunner(d: RunnerDeps) {
  const caps = d.capsules.admin

  const networkOf = (input: RunInput) => (input.source.kind === 'local' ? d.network.local : d.network.https)

  /** A spare capsule of the team (spares.ts), now this run's with its repository bound in; null when there is none. */
  async function claimSpare(runId: string, teamId: string, input: RunInput, binds: Array<{ source: string; path: string }>) {
    const id = await d.spares?.take({ teamId, network: networkOf(input) })
    if (!id) return null
    try {
      return await caps.claim(system, id, { metadata: { run: runId }, binds })
    } catch (err) {
      d.log.warn('spare capsule not claimed; booting one', { run: runId, capsule: id, err })
      await caps.destroy(system, id).catch(() => {})
      return null
    }
  }

  async function run(runId: string, teamId: string, input: RunInput, emit: (e: RunEvent) => void): Promise<RunDone> {
    const made: { id?: string } = {}
    const outcome = await steps(runId, teamId, input, emit, (id) => (made.id = id))
    const id = made.id
    if (id && input.keep) outcome.capsuleId = id
    const teardown = async () => {
      if (id && !input.keep) await caps.destroy(system, id).catch((err) => d.log.warn('run capsule not destroyed', { run: runId, capsule: id, err }))
      // the team's next run finds a capsule up
      d.spares?.refill({ teamId, network: networkOf(input) })
    }
    return { outcome, teardown }
  }

  /** Boot, clone, steps, diff and artifact; `created` learns the capsule's id as soon as it exists. */
  async function steps(runId: string, teamId: string, input: RunInput, emit: (e: RunEvent) => void, created: (id: string) => void): Promise<RunOutcome> {
    const t0 = performance.now()
    const receipts: Receipt[] = []
    const runnerReceipts: RunnerReceipt[] = []
    const elapsedMs = () => Math.round(performance.now() - t0)
    const lifecycle = (type: string, extra: Record<string, unknown> = {}) => {
      const r: RunnerReceipt = { type, event: type, ts: new Date().toISOString(), ...extra }
      runnerReceipts.push(r)
      emit({ kind: 'runner', receipt: r })
    }
    const local = input.source.kind === 'local'
    const url = input.source.kind === 'https' ? input.source.url : `file://${LOCAL_REPO_INSIDE}`
    let capsuleId: string | null = null
    const out: RunOutcome = { ok: false, receipts, runnerReceipts, artifact: null, diff: '' }

    const exec = (cmd: string, args: string[], timeoutMs: number, envs?: Record<string, string>, cwd = REPO_DIR): Promise<ExecResult> =>
      caps.processes.exec(system, capsuleId!, { cmd, args, cwd, envs, timeoutSec: timeoutMs / 1000, background: false, tag: null })

    const step = async (type: Receipt['type'], shown: string, cmd: string, args: string[], timeoutMs: number, envs?: Record<string, string>, cwd?: string) => {
      const startedAt = new Date().toISOString()
      let r: ExecResult
      try {
        r = await exec(cmd, args, timeoutMs, envs, cwd)
      } catch (err) {
        r = { exitCode: -1, stdout: Buffer.alloc(0), stderr: Buffer.from(`nestbox: the step could not run: ${(err as Error).message}`), durationMs: 0, timedOut: false }
      }
      const stderr = r.timedOut ? `${r.stderr.toString('utf8')}\nnestbox: killed after timeoutMs ${timeoutMs} ms` : r.stderr
      const receipt: Receipt = {
        type,
        cmd: shown,
        code: r.exitCode < 0 ? null : r.exitCode,
        signal: r.timedOut ? 'SIGKILL' : null,
        stdout: receiptText(r.stdout),
        stderr: receiptText(stderr),
        startedAt,
        finishedAt: new Date().toISOString(),
        ...(r.timedOut ? { timedOut: true } : {}),
      }
      receipts.push(receipt)
      emit({ kind: 'receipt', receipt })
      return { receipt, stdout: r.stdout }
    }

    try {
      const binds = input.source.kind === 'local' ? [{ source: join(input.source.root, input.source.rel), path: LOCAL_REPO_INSIDE }] : []
      const spare = await claimSpare(runId, teamId, input, binds)
      lifecycle('runner.container.start', { alreadyRunning: spare !== null })
      const row =
        spare ??
        (await caps.create(
          system,
          { team_id: teamId, network: networkOf(input), memory_mb: d.memoryMb, timeout_sec: 0, metadata: { run: runId } },
          // clone, commands, verify steps and diff follow the boot back to back
          { binds, firstExecs: 2 + input.commands.length + input.verify.length },
        ))
      capsuleId = row.id
      created(row.id)
      let lastError = ''
      for (let attempt = 1; ; attempt++) {
        // waits for a booting capsule and answers once it runs and takes commands (an exec of `true` cost a step more)
        const ok = await caps.processes.assertExecutable(system, capsuleId).then(() => true, (err) => ((lastError = (err as Error).message), false))
        lifecycle('runner.container.ready_attempt', { attempt, elapsedMs: elapsedMs(), ok, ...(ok ? {} : { error: lastError || 'not ready' }) })
        if (ok) {
          lifecycle('runner.container.ready', { attempt, elapsedMs: elapsedMs() })
          break
        }
        if (attempt >= READY_ATTEMPTS) {
          lifecycle('runner.container.not_ready', { attempts: attempt, elapsedMs: elapsedMs(), error: lastError || 'not ready' })
          out.error = `the run's capsule did not become ready: ${lastError || 'not ready'}`
          return out
        }
      }

      const mode = input.clone === 'blobless' ? '--filter=blob:none' : '--depth 1'
      const sparse = input.sparse.length ? `git sparse-checkout set --no-cone ${input.sparse.map(sq).join(' ')} && ` : ''
      const shownClone = `git init && ${sparse}git fetch ${mode} ${sq(input.repo)} ${input.ref ?? 'HEAD'} && git checkout FETCH_HEAD`
      const clone = await step('clone', shownClone, '/bin/bash', ['-c', CLONE_SCRIPT, 'clone', url, input.ref ?? '', input.clone, ...input.sparse], CLONE_TIMEOUT_MS, local ? LOCAL_GIT_ENV : undefined, '/')
      if (clone.receipt.code !== 0) {
        out.error = `clone failed (exit ${clone.receipt.code ?? 'none'})`
        return out
      }
      let ok = true
      for (const c of input.commands) ok = (await step('command', c, '/bin/bash', ['-lc', c], input.timeoutMs)).receipt.code === 0 && ok
      let verified = true
      for (const c of input.verify) verified = (await step('verify', c, '/bin/bash', ['-lc', c], input.timeoutMs)).receipt.code === 0 && verified
      const diff = await step('diff', 'git diff HEAD (tracked changes and new untracked files)', '/bin/bash', ['-c', DIFF_SCRIPT], CLONE_TIMEOUT_MS)
      out.diff = diff.stdout.toString('utf8').slice(0, MAX_DIFF_CHARS)
      if (input.artifact) {
        const a = await exec('/bin/bash', ['-c', ARTIFACT_SCRIPT, 'artifact', input.artifact], 30_000).catch(() => null)
        if (a && a.exitCode === 0) out.artifact = { path: input.artifact, content: a.stdout.toString('utf8').slice(0, MAX_ARTIFACT_CHARS) }
      }
      out.ok = ok && verified && diff.receipt.code === 0
      if (!verified) out.error = 'verify failed'
      else if (!ok) out.error = 'a command failed'
      return out
    } catch (err) {
      d.log.warn('run failed', { run: runId, err })
      out.error = `run failed: ${(err as Error).message}`
      return out
    }
  }
  return run
}
export type Runner = ReturnType<typeof createRunner>
