/**
 * Running Claude Code in a workspace: one run per workspace at a time (409
 * otherwise), the CLI spawned in the workspace's capsule with a freshly minted
 * gateway key, its stream-json output parsed as it comes, cancel killing every
 * process of the capsule, async results kept until read or purged.
 */
import { randomBytes } from 'node:crypto'
import { conflict } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { system } from '../core/principal.ts'
import type { CapsuleService } from '../capsules/service.ts'
import { releaseGate } from '../capsules/processes.ts'
import { NESTBOX_URL } from '../capsules/runtime/network.ts'
import type { Gateway } from '../gateway/setup.ts'
import { cliArgs, CLI_INSIDE, createOutputParser, jsonAnswer, WORKSPACE_DIR, type RunOptions, type Turn } from './cli.ts'
import type { RunRequest } from './input.ts'
import type { ReadyWorkspace, Workspaces } from './workspaces.ts'

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled'
export type Run = {
  id: string
  teamId: string
  workspace: string
  status: RunStatus
  async: boolean
  finishedAt: number | null
  answer: Record<string, unknown> | null
  error: string | null
  /** Settles when the run's answer is known (never rejects). */
  done: Promise<void>
  /** Settles when its processes are gone (the CLI exits a little after its result): the workspace is busy until then. */
  exited: Promise<void>
  cancel: () => Promise<void>
}

export type RunEngineDeps = {
  capsules: CapsuleService
  gateway: Pick<Gateway, 'mintCapsuleKey' | 'revokeCapsuleKey'>
  workspaces: Workspaces
  log: Logger
  now: () => number
  /** Alias → gateway model; the CLI's own aliases are pointed at them too. */
  models: Record<string, string>
  defaultModel: string
  runTimeoutMs: number
}

const STDERR_KEEP = 4000
/** `claude -p` reads a piped stdin until it ends (seconds when it never does): it gets /dev/null once the spawn gate has opened. */
const NO_STDIN = 'exec "$0" "$@" </dev/null'

export function createRunEngine(d: RunEngineDeps) {
  const caps = d.capsules.admin
  const runs = new Map<string, Run>()
  const busy = new Map<string, Run>()
  const key = (teamId: string, ws: string) => `${teamId}/${ws}`
  const model = (m: string | null) => (m ? (d.models[m] ?? m) : (d.models[d.defaultModel] ?? d.defaultModel))

  const env = (apiKey: string): Record<string, string> => ({
    HOME: '/root',
    IS_SANDBOX: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    ANTHROPIC_BASE_URL: NESTBOX_URL,
    ANTHROPIC_API_KEY: apiKey,
    ANTHROPIC_MODEL: model(null),
    ...(d.models.haiku ? { ANTHROPIC_DEFAULT_HAIKU_MODEL: d.models.haiku, ANTHROPIC_SMALL_FAST_MODEL: d.models.haiku } : {}),
    ...(d.models.sonnet ? { ANTHROPIC_DEFAULT_SONNET_MODEL: d.models.sonnet } : {}),
    ...(d.models.opus ? { ANTHROPIC_DEFAULT_OPUS_MODEL: d.models.opus } : {}),
  })

  /** Kills every process of the workspace's capsule: the CLI and whatever its tools started. */
  async function killTree(capsuleId: string) {
    const procs = await caps.processes.list(system, capsuleId).catch(() => [])
    await Promise.all(procs.map((p) => caps.processes.kill(system, capsuleId, String(p.pid), 'SIGKILL').catch(() => {})))
  }

  type State = { killed: boolean; /** The CLI process of the latest attempt has exited. */ proc: Promise<unknown> }

  async function attempt(run: Run, ws: ReadyWorkspace, apiKey: string, o: RunOptions, onTurn: (t: Turn) => void, state: State) {
    const parser = createOutputParser(onTurn)
    let stderr = ''
    const h = await caps.processes.spawn(system, ws.capsule_id, { cmd: '/bin/sh', args: ['-c', NO_STDIN, CLI_INSIDE, ...cliArgs({ ...o, model: o.model ? model(o.model) : null })], envs: env(apiKey), cwd: WORKSPACE_DIR, tag: `claudebox-${run.id}` }, { gated: true })
    h.onStdout((c) => parser.push(c))
    h.onStderr((c) => (stderr = (stderr + c.toString('utf8')).slice(-STDERR_KEEP)))
    const timer = setTimeout(() => {
      state.killed = true
      void killTree(ws.capsule_id)
    }, d.runTimeoutMs)
    run.cancel = async () => {
      state.killed = true
      h.kill('SIGKILL')
      await killTree(ws.capsule_id)
    }
    const exit = h.exited.finally(() => clearTimeout(timer))
    state.proc = exit
    releaseGate(h)
    // the answer is complete with the result line: the CLI's own shutdown (a few hundred ms) is not waited for
    const code = await Promise.race([exit, parser.result.then(() => 0)])
    return { code, stderr, sawOutput: parser.sawOutput, ...parser.end() }
  }

  /** Runs the CLI with a key minted for this run; `settled` once its process has exited and the key is revoked. */
  async function execute(run: Run, req: RunRequest, fresh: boolean, onTurn: (t: Turn) => void, settled: () => void) {
    const state: State = { killed: false, proc: Promise.resolve() }
    run.cancel = async () => {
      state.killed = true
    }
    let capsuleId: string | null = null
    try {
      const ws = await d.workspaces.ready(run.teamId, run.workspace, true)
      if (state.killed) return finish(run, 'cancelled')
      capsuleId = ws.capsule_id
      const { key: apiKey } = await d.gateway.mintCapsuleKey(run.teamId, ws.capsule_id, NESTBOX_URL)
      return await withKey(run, req, fresh, onTurn, state, ws, apiKey)
    } finally {
      // the key is the run's: it ends with the CLI (a process it left behind cannot spend any more)
      void state.proc
        .then(async () => {
          if (capsuleId) await d.gateway.revokeCapsuleKey(capsuleId)
        })
        .catch((err) => d.log.warn('claudebox: run key not revoked', { run: run.id, err }))
        .finally(settled)
    }
  }

  async function withKey(run: Run, req: RunRequest, fresh: boolean, onTurn: (t: Turn) => void, state: State, ws: ReadyWorkspace, apiKey: string) {
    const base = { prompt: req.prompt, model: req.model, systemPrompt: req.systemPrompt, appendSystemPrompt: req.appendSystemPrompt, jsonSchema: req.jsonSchema, effort: req.effort }
    const session: RunOptions['session'] = req.resume ? { mode: 'resume', id: req.resume } : fresh || req.noContinue || !ws.session_id ? { mode: 'fresh' } : { mode: 'continue' }
    let out = await attempt(run, ws, apiKey, { ...base, session }, onTurn, state)
    // compat(claudebox 000): a --continue that fails at once with no output is retried once as a fresh session
    if (!state.killed && session.mode === 'continue' && out.code !== 0 && !out.sawOutput) out = await attempt(run, ws, apiKey, { ...base, session: { mode: 'fresh' } }, onTurn, state)
    if (state.killed) return finish(run, 'cancelled')
    if (!out.result) {
      d.log.warn('claudebox run ended without a result', { run: run.id, code: out.code, stderr: out.stderr.slice(-500) })
      return finish(run, 'failed', null, `claude exited with code ${out.code}${out.stderr.trim() ? `: ${out.stderr.trim().slice(-500)}` : ''}`)
    }
    await d.workspaces.finished(ws, typeof out.result.session_id === 'string' ? out.result.session_id : null)
    const answer: Record<string, unknown> = { ...jsonAnswer(out.result), runId: run.id, workspace: run.workspace }
    if (req.outputFormat === 'json-verbose') Object.assign(answer, { turns: out.turns, system: out.system })
    return finish(run, 'completed', answer)
  }

  function finish(run: Run, status: RunStatus, answer: Record<string, unknown> | null = null, error: string | null = null) {
    Object.assign(run, { status, answer, error, finishedAt: d.now() })
  }

  return {
    /**
     * Starts a run in the caller's workspace: 409 while another runs there. `fresh`
     * starts a new session whatever the request says (MCP and OpenAI calls).
     */
    start(teamId: string, req: RunRequest, o: { fresh?: boolean; onTurn?: (t: Turn) => void } = {}): Run {
      const k = key(teamId, req.workspace)
      const prev = busy.get(k)
      if (prev?.status === 'running') throw conflict('workspace busy, retry later', 'workspace_busy')
      let settled!: () => void
      const exited = new Promise<void>((r) => (settled = r))
      const run: Run = { id: randomBytes(8).toString('hex'), teamId, workspace: req.workspace, status: 'running', async: req.async, finishedAt: null, answer: null, error: null, done: Promise.resolve(), exited, cancel: async () => {} }
      busy.set(k, run)
      runs.set(run.id, run)
      // a previous run that answered but whose CLI is still exiting is waited for, not refused
      run.done = (prev ? prev.exited : Promise.resolve())
        .then(() => execute(run, req, o.fresh ?? false, o.onTurn ?? (() => {}), settled))
        .catch((err) => {
          d.log.error('claudebox run failed', { run: run.id, err })
          finish(run, run.status === 'running' ? 'failed' : run.status, null, (err as { status?: number }).status && (err as Error).message ? (err as Error).message : 'the run failed (details are in the server log)')
        })
        .finally(() => {
          if (!run.async) runs.delete(run.id)
          void run.exited.then(() => busy.get(k) === run && busy.delete(k))
        })
      return run
    },

    get: (runId: string) => runs.get(runId) ?? null,
    /** A finished async result is read once. */
    forget: (runId: string) => runs.delete(runId),
    busyIn: (teamId: string, ws: string) => {
      const r = busy.get(key(teamId, ws))
      return r?.status === 'running' ? r : null
    },
    list: (teamId: string) => [...runs.values()].filter((r) => r.teamId === teamId),
    busyWorkspaces: (teamId: string) => [...busy.values()].filter((r) => r.teamId === teamId && r.status === 'running').map((r) => r.workspace),
    isBusy: (teamId: string, ws: string) => busy.has(key(teamId, ws)),

    /** Drops unread results older than `ttlMs`. */
    purge(ttlMs: number) {
      let n = 0
      for (const [id, r] of runs) if (r.finishedAt !== null && d.now() - r.finishedAt > ttlMs && runs.delete(id)) n++
      return { purged: n }
    },

    /** Kills every run (shutdown). */
    async stopAll() {
      await Promise.all([...busy.values()].map((r) => r.cancel().catch(() => {})))
    },
  }
}
export type RunEngine = ReturnType<typeof createRunEngine>
