/**
 * Workspaces: a named, team-scoped capsule per workspace, created on first use
 * with the Claude Code CLI bound in read-only, resumed when a run or a file
 * operation needs it, paused when idle. Its files and ~/.claude (conversation
 * history) live in the capsule's own layer, so they outlast pauses and restarts.
 */
import { notFound, unavailable } from '../core/errors.ts'
import type { Db } from '../core/db.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import { system } from '../core/principal.ts'
import type { CapsuleService } from '../capsules/service.ts'
import { createKeyedLock } from '../capsules/locks.ts'
import { CLI_DIR_INSIDE, WORKSPACE_DIR } from './cli.ts'
import { findWorkspace, insertWorkspace, listIdleWorkspaces, updateWorkspace } from './store.ts'
import type { WorkspaceRow } from './tables.ts'

export type WorkspaceDeps = {
  db: Db
  capsules: CapsuleService
  clock: Clock
  ids: IdGen
  log: Logger
  instance: string
  memoryMb: number
  vcpus: number
  /** The host directory holding `claude`, or null when it is not installed. */
  cliDir: () => string | null
}

export type ReadyWorkspace = WorkspaceRow & { capsule_id: string }

export function createWorkspaces(d: WorkspaceDeps) {
  const caps = d.capsules.admin
  const lock = createKeyedLock()

  async function newCapsule(ws: WorkspaceRow): Promise<string> {
    const cli = d.cliDir()
    if (!cli) throw unavailable('the Claude Code CLI is not installed on this host (npm ci installs it; or set claudebox.cliDir)', 'cli_missing')
    const row = await caps.create(
      system,
      { team_id: ws.team_id, network: 'nestbox', vcpus: Math.min(d.vcpus, d.capsules.config.limits.maxVcpus), memory_mb: Math.min(d.memoryMb, d.capsules.config.limits.maxMemoryMb), timeout_sec: 0, metadata: { claudebox: d.instance, workspace: ws.name } },
      { binds: [{ source: cli, path: CLI_DIR_INSIDE }] },
    )
    await updateWorkspace(d.db, ws.id, { capsule_id: row.id, session_id: null })
    // waits for the boot (exec waits for a starting capsule), then makes the workspace directory
    const r = await caps.processes.exec(system, row.id, { cmd: 'mkdir', args: ['-p', WORKSPACE_DIR], timeoutSec: 30, background: false, tag: null })
    if (r.exitCode !== 0) throw unavailable(`workspace ${ws.name} could not be prepared`, 'workspace_unavailable')
    d.log.info('claudebox workspace created', { workspace: ws.name, team: ws.team_id, capsule: row.id })
    return row.id
  }

  /** The capsule running again: resumed when paused, made anew when it is gone. */
  async function running(ws: WorkspaceRow): Promise<string> {
    if (!ws.capsule_id) return newCapsule(ws)
    const cap = await caps.get(system, ws.capsule_id).catch(() => null)
    if (!cap || cap.status === 'stopped' || cap.status === 'stopping' || cap.status === 'error') {
      d.log.warn('claudebox workspace capsule gone; a new one is made (files lost)', { workspace: ws.name, capsule: ws.capsule_id, status: cap?.status })
      return newCapsule(ws)
    }
    if (cap.status === 'paused') await caps.resume(system, cap.id)
    return cap.id
  }

  return {
    /** The workspace ready for work; `create`: made on first use, else 404 when it does not exist. */
    async ready(teamId: string, name: string, create: boolean): Promise<ReadyWorkspace> {
      let ws = await findWorkspace(d.db, d.instance, teamId, name)
      if (!ws) {
        if (!create) throw notFound(`workspace ${name} not found`, 'workspace_not_found')
        ws = await insertWorkspace(d.db, { id: d.ids.id('ws-', 12), instance: d.instance, team_id: teamId, name, capsule_id: null, session_id: null, created_at: d.clock.now(), last_run_at: null })
      }
      return lock(ws.id, async () => {
        const cur = (await findWorkspace(d.db, d.instance, teamId, name))!
        const capsuleId = await running(cur)
        const now = d.clock.now()
        await updateWorkspace(d.db, cur.id, { last_run_at: now })
        return { ...cur, capsule_id: capsuleId, last_run_at: now }
      })
    },

    /** Records the session a run ended in and when the workspace was last used. */
    finished: (ws: WorkspaceRow, sessionId: string | null) => updateWorkspace(d.db, ws.id, { ...(sessionId ? { session_id: sessionId } : {}), last_run_at: d.clock.now() }),

    /** Pauses the capsules of workspaces unused for `idleMs` (busy ones are skipped). */
    async pauseIdle(idleMs: number, busy: (ws: WorkspaceRow) => boolean): Promise<{ paused: number }> {
      let paused = 0
      for (const ws of await listIdleWorkspaces(d.db, d.instance, d.clock.now() - idleMs)) {
        if (busy(ws)) continue
        await lock(ws.id, async () => {
          const cap = await caps.get(system, ws.capsule_id!).catch(() => null)
          if (cap?.status !== 'running' || busy(ws)) return
          await caps.pause(system, cap.id)
          paused++
        }).catch((err) => d.log.warn('claudebox idle pause failed', { workspace: ws.name, err }))
      }
      return { paused }
    },
  }
}
export type Workspaces = ReturnType<typeof createWorkspaces>
