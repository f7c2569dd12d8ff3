/**
 * One claudebox surface (/claudebox/ or /claudebox-zai/): who a caller is (the
 * surface's token, acting for its configured team, or a nestbox API key),
 * runs with their results, and the files of the caller's team's workspaces.
 * Another team's workspaces and runs are "not found".
 */
import { Readable } from 'node:stream'
import { forbidden, invalid, notFound, unauthorized } from '../core/errors.ts'
import type { Db } from '../core/db.ts'
import { roleAtLeast, type Principal } from '../core/principal.ts'
import { safeEqual, sha256hex } from '../core/secrets.ts'
import { system } from '../core/principal.ts'
import { fsError } from '../capsules/files.ts'
import type { CapsuleService } from '../capsules/service.ts'
import type { IdentityService } from '../identity/service.ts'
import type { Turn } from './cli.ts'
import { parseWorkspace, workspacePath, type RunRequest } from './input.ts'
import type { Run, RunEngine } from './runs.ts'
import { listWorkspaces } from './store.ts'
import type { Workspaces } from './workspaces.ts'

/** Who calls: the team whose workspaces they use, and whether they may change them. */
export type Caller = { teamId: string; canWrite: boolean }

export type ClaudeboxDeps = {
  name: string
  db: Db
  identity: IdentityService
  capsules: CapsuleService
  workspaces: Workspaces
  engine: RunEngine
  models: Record<string, string>
  /** The surface token's hash and team, once known (configured or generated at start). */
  token: () => { hash: string; teamId: string } | null
  resultTtlMs: number
}

export type FileAnswer = { kind: 'dir'; path: string; entries: Array<{ name: string; type: 'file' | 'dir' | 'symlink'; size?: number }> } | { kind: 'file'; size: number; stream: Readable }

export function createClaudebox(d: ClaudeboxDeps) {
  const caps = d.capsules.admin
  const writer = (c: Caller) => {
    if (!c.canWrite) throw forbidden('viewers can read workspaces but not change them', 'insufficient_role')
  }
  const ready = async (c: Caller, ws: string, create = false) => (await d.workspaces.ready(c.teamId, parseWorkspace(ws), create)).capsule_id

  const runView = (r: Run) => ({ runId: r.id, workspace: r.workspace, status: r.status })

  return {
    name: d.name,
    models: d.models,

    /** Bearer value → caller: the surface's token (its team, full rights) or a nestbox API key (its team and role). */
    async authenticate(bearer: string | undefined): Promise<Caller> {
      if (!bearer) throw unauthorized('missing Authorization: Bearer token')
      if (bearer.startsWith('wrn_')) {
        const p = await d.identity.authenticateApiKey(bearer)
        if (!p || p.kind !== 'api_key') throw unauthorized('invalid API key', 'invalid_api_key')
        return { teamId: p.teamId, canWrite: roleAtLeast(p.role, 'member') }
      }
      const t = d.token()
      if (!t || !safeEqual(sha256hex(bearer), t.hash)) throw unauthorized('invalid token', 'invalid_token')
      return { teamId: t.teamId, canWrite: true }
    },

    /** A principal of the MCP hub (an API key's or session's team), or the surface's own team for the gateway master key (null). */
    callerOf(p: Principal | null): Caller {
      if (!p) {
        const t = d.token()
        if (!t) throw unauthorized('this surface has no team yet')
        return { teamId: t.teamId, canWrite: true }
      }
      if ((p.kind !== 'api_key' && p.kind !== 'user') || !p.teamId) throw unauthorized('a key of a team is required')
      return { teamId: p.teamId, canWrite: roleAtLeast(p.role, 'member') }
    },

    /** Starts a run (sync callers await `run.done`; async ones poll result). */
    run(c: Caller, req: RunRequest, o: { fresh?: boolean; onTurn?: (t: Turn) => void } = {}): Run {
      writer(c)
      return d.engine.start(c.teamId, req, o)
    },

    /** compat(claudebox 000): running, the result (deleted once read), failed or cancelled; 404 when unknown. */
    result(c: Caller, runId: unknown): Record<string, unknown> {
      if (typeof runId !== 'string' || !runId) throw invalid('runId is required')
      const r = d.engine.get(runId)
      if (!r || r.teamId !== c.teamId || !r.async) throw notFound(`run ${runId.slice(0, 64)} not found`, 'run_not_found')
      if (r.status === 'running') return { runId: r.id, workspace: r.workspace, status: 'running' }
      d.engine.forget(r.id)
      if (r.status === 'completed') return r.answer!
      if (r.status === 'failed') return { runId: r.id, workspace: r.workspace, status: 'failed', error: r.error }
      return { runId: r.id, workspace: r.workspace, status: 'cancelled' }
    },

    /** Cancels by run id or by workspace (its running run); kills the whole process tree. */
    async cancel(c: Caller, q: { runId?: string; workspace?: string }): Promise<{ status: 'ok'; runId?: string; workspace: string }> {
      writer(c)
      let r: Run | null = null
      if (q.runId) {
        r = d.engine.get(q.runId)
        if (!r || r.teamId !== c.teamId) throw notFound(`run ${q.runId.slice(0, 64)} not found`, 'run_not_found')
      } else if (q.workspace !== undefined) {
        r = d.engine.busyIn(c.teamId, parseWorkspace(q.workspace))
        if (!r) throw notFound(`no run in workspace ${q.workspace.slice(0, 64)}`, 'run_not_found')
      } else throw invalid('runId or workspace is required')
      if (r.status === 'running') await r.cancel()
      return { status: 'ok', runId: r.id, workspace: r.workspace }
    },

    status(c: Caller) {
      return { busyWorkspaces: d.engine.busyWorkspaces(c.teamId), runs: d.engine.list(c.teamId).map(runView) }
    },

    /** GET /files[/{workspace}[/{path}]]: the team's workspaces, a directory listing, or a file's bytes. */
    async read(c: Caller, ws: string | null, rel: string): Promise<FileAnswer> {
      if (!ws) {
        const rows = await listWorkspaces(d.db, d.name, c.teamId)
        return { kind: 'dir', path: '', entries: rows.map((w) => ({ name: w.name, type: 'dir' as const })) }
      }
      const path = workspacePath(rel)
      const id = await ready(c, ws)
      const st = await caps.files.list(system, id, path, 1).then(
        (entries) => ({ dir: true as const, entries }),
        (err) => ((err as { code?: string }).code === 'not_a_directory' ? { dir: false as const, entries: [] } : Promise.reject(err)),
      )
      if (st.dir) return { kind: 'dir', path: rel.replace(/^\/+|\/+$/g, ''), entries: st.entries.map((e) => ({ name: e.name, type: e.type, ...(e.type === 'file' ? { size: e.size } : {}) })) }
      const f = await caps.files.read(system, id, path)
      return { kind: 'file', size: f.size, stream: f.stream }
    },

    /** PUT /files/{workspace}/{path}: creates the workspace on first use. */
    async write(c: Caller, ws: string, rel: string, body: Readable): Promise<{ status: 'ok'; path: string; size: number }> {
      writer(c)
      const path = workspacePath(rel)
      if (path === workspacePath('')) throw invalid('a file path inside the workspace is required', 'invalid_path')
      const id = await ready(c, ws, true)
      const r = await caps.files.write(system, id, path, body)
      return { status: 'ok', path: rel.replace(/^\/+/, ''), size: r.size }
    },

    async remove(c: Caller, ws: string, rel: string): Promise<{ status: 'ok'; path: string }> {
      writer(c)
      const path = workspacePath(rel)
      if (path === workspacePath('')) throw invalid('refusing to delete the workspace root', 'invalid_path')
      const id = await ready(c, ws)
      await caps.files.remove(system, id, path).catch((err) => Promise.reject(fsError(err, rel)))
      return { status: 'ok', path: rel.replace(/^\/+/, '') }
    },

    /** Writes a file into a workspace (the OpenAI adapter's conversation files). */
    async writeBytes(c: Caller, ws: string, rel: string, bytes: Buffer) {
      writer(c)
      const id = await ready(c, ws, true)
      await caps.files.write(system, id, workspacePath(rel), Readable.from([bytes]))
    },

    purge: () => d.engine.purge(d.resultTtlMs),
  }
}
export type Claudebox = ReturnType<typeof createClaudebox>
