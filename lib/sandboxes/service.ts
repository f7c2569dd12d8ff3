/**
 * SandboxService: opencode/openclaw sandboxes of a workspace (a team). A cloud
 * sandbox is a capsule of the team whose main service the driver starts; a
 * local sandbox is an agent on the user's machine behind part of the tunnel
 * (lib/tunnel), which reports in through the local-agent methods here.
 * Whether a proxy token or a subdomain visitor may reach a sandbox is decided
 * here and nowhere else.
 */
import { randomBytes } from 'node:crypto'
import type { Db } from '../core/db.ts'
import { conflict, invalid, notFound } from '../core/errors.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import type { Principal } from '../core/principal.ts'
import { safeEqual, sha256hex } from '../core/secrets.ts'
import { reachTeam, requireRole, WORKSPACE_POLICY } from '../identity/access.ts'
import { deleteSandbox, findSandbox, findSandboxByCapsule, findSandboxByShortId, insertSandbox, listSandboxesByTeam, updateSandbox } from './store.ts'
import type { SandboxRow, SandboxStatus, SandboxType } from './tables.ts'
import type { SandboxTokens } from './tokens.ts'

/** What the service needs of capsules (lib/sandboxes/cloud.ts implements it). */
export type CloudDriver = {
  /** Makes the capsule and starts the service in it; resolves to the capsule id once the process is started. `onExit`: the service ended (why). */
  launch(sb: SandboxRow, onExit: (why: string) => void): Promise<string>
  /** Resolves once the service answers on its port; rejects after the start-up timeout. */
  ready(sb: SandboxRow & { capsule_id: string }): Promise<void>
  pause(capsuleId: string): Promise<void>
  resume(capsuleId: string): Promise<void>
  destroy(capsuleId: string): Promise<void>
  /** The capsule's status, or null when it no longer exists. */
  capsuleStatus(capsuleId: string): Promise<string | null>
}

export type SandboxDeps = {
  db: Db
  clock: Clock
  ids: IdGen
  log: Logger
  tokens: SandboxTokens
  cloud: CloudDriver
  /** A sandbox was deleted (the tunnel hub closes a local agent's tunnel for good). */
  onRemoved?: (sb: SandboxRow) => void
}

const TYPES: readonly SandboxType[] = ['opencode', 'openclaw']
const NAME = /^[^\0-\x1f]{1,100}$/

function parseNew(b: { name?: unknown; type?: unknown }): { name: string; type: SandboxType } {
  const name = typeof b.name === 'string' ? b.name.trim() : ''
  if (!NAME.test(name)) throw invalid('name is required (1-100 characters, no control characters)', 'invalid_name')
  if (!TYPES.includes(b.type as SandboxType)) throw invalid('type must be opencode or openclaw', 'invalid_type')
  return { name, type: b.type as SandboxType }
}

/** A cloud sandbox's status from its capsule's (pending/starting → creating, a gone capsule → stopped). */
function fromCapsule(cur: SandboxStatus, cap: string | null): SandboxStatus {
  if (cap === null || cap === 'stopped' || cap === 'stopping') return 'stopped'
  if (cap === 'error') return 'error'
  if (cap === 'paused') return 'paused'
  if (cap === 'running') return cur === 'paused' || cur === 'stopped' ? 'creating' : cur
  return 'creating'
}

/** How long the subdomain proxy may use a sandbox row without reading it again (changes made here drop it at once). */
const HOST_CACHE_MS = 1000

export function createSandboxService(d: SandboxDeps) {
  const now = () => d.clock.now()
  const byShortId = new Map<string, { row: SandboxRow; until: number }>()
  const forget = (id: string) => {
    for (const [k, v] of byShortId) if (v.row.id === id) byShortId.delete(k)
  }
  const set = async (id: string, patch: Partial<SandboxRow>) => {
    await updateSandbox(d.db, id, { ...patch, updated_at: now() })
    forget(id)
  }

  async function reach(p: Principal, id: string) {
    const sb = await findSandbox(d.db, id)
    if (!sb) throw notFound('sandbox not found', 'not_found')
    // another team's sandbox is a 404 like a missing one
    const { role } = await reachTeam(d.db, p, sb.team_id, WORKSPACE_POLICY).catch(() => {
      throw notFound('sandbox not found', 'not_found')
    })
    return { sb: await current(sb), role }
  }

  /** The row with a cloud sandbox's status brought in line with its capsule. */
  async function current(sb: SandboxRow): Promise<SandboxRow> {
    if (sb.kind !== 'cloud' || !sb.capsule_id || sb.status === 'stopped') return sb
    const status = fromCapsule(sb.status, await d.cloud.capsuleStatus(sb.capsule_id))
    if (status === sb.status) return sb
    await set(sb.id, { status })
    return { ...sb, status }
  }

  const watching = new Set<string>()
  /** Starts (or restarts after a resume) the service's readiness watch: creating → running, or error. */
  function watchReady(sb: SandboxRow & { capsule_id: string }) {
    if (watching.has(sb.id)) return
    watching.add(sb.id)
    d.cloud.ready(sb).finally(() => watching.delete(sb.id)).then(
      async () => {
        const cur = await findSandbox(d.db, sb.id)
        if (cur?.status === 'creating') await set(sb.id, { status: 'running', error: null, last_seen_at: now() })
      },
      async (err) => {
        const cur = await findSandbox(d.db, sb.id)
        if (cur?.status !== 'creating') return
        d.log.warn('sandbox service did not become ready', { sandbox: sb.id, err })
        await set(sb.id, { status: 'error', error: String((err as Error)?.message ?? err).slice(0, 500) })
      },
    ).catch((err) => d.log.error('sandbox status not recorded', { sandbox: sb.id, err }))
  }

  /** The service ended while its sandbox was up (a destroyed or stopped sandbox ends it too: no change then). */
  async function serviceExited(id: string, why: string) {
    const row = await findSandbox(d.db, id)
    const cur = row && (await current(row))
    if (cur && (cur.status === 'running' || cur.status === 'creating')) await set(id, { status: 'error', error: why.slice(0, 500) })
  }

  async function launch(sb: SandboxRow) {
    try {
      const capsuleId = await d.cloud.launch(sb, (why) => void serviceExited(sb.id, why).catch((err) => d.log.error('sandbox status not recorded', { sandbox: sb.id, err })))
      await set(sb.id, { capsule_id: capsuleId })
      // deleted while its capsule was being made: nothing else would remove that capsule
      if (!(await findSandbox(d.db, sb.id))) return void (await d.cloud.destroy(capsuleId))
      watchReady({ ...sb, capsule_id: capsuleId })
    } catch (err) {
      d.log.warn('sandbox launch failed', { sandbox: sb.id, err })
      await set(sb.id, { status: 'error', error: String((err as Error)?.message ?? err).slice(0, 500) })
    }
  }

  const newRow = (teamId: string, name: string, type: SandboxType, kind: SandboxRow['kind'], createdBy: string | null): SandboxRow => ({
    id: d.ids.uuid(),
    short_id: d.ids.id('', 12),
    team_id: teamId,
    name,
    type,
    kind,
    status: kind === 'cloud' ? 'creating' : 'offline',
    capsule_id: null,
    tunnel_token_hash: null,
    agent_info: null,
    error: null,
    created_by: createdBy,
    created_at: now(),
    updated_at: now(),
    last_seen_at: null,
  })

  /** Keeps a local agent's last agent_info report; an oversized one is dropped (a cut one would not parse). */
  async function recordAgentInfo(sandboxId: string, info: object): Promise<void> {
    const json = JSON.stringify(info)
    await set(sandboxId, { ...(json.length <= 16_384 ? { agent_info: json } : {}), last_seen_at: now() })
  }

  const userOf = (p: Principal) => (p.kind === 'user' || p.kind === 'api_key' ? p.userId : null)

  return {
    async list(p: Principal, workspaceId: string): Promise<SandboxRow[]> {
      await reachTeam(d.db, p, workspaceId, WORKSPACE_POLICY)
      return Promise.all((await listSandboxesByTeam(d.db, workspaceId)).map(current))
    },

    /** Creates a cloud sandbox (developer or above); it answers at once with status creating while its capsule starts. */
    async create(p: Principal, workspaceId: string, body: { name?: unknown; type?: unknown }): Promise<SandboxRow> {
      const { role } = await reachTeam(d.db, p, workspaceId, WORKSPACE_POLICY)
      requireRole(role, 'member')
      const { name, type } = parseNew(body)
      const sb = newRow(workspaceId, name, type, 'cloud', userOf(p))
      await insertSandbox(d.db, sb)
      void launch(sb)
      return sb
    },

    async get(p: Principal, id: string): Promise<SandboxRow> {
      return (await reach(p, id)).sb
    },

    /** Deletes the sandbox and its capsule (developer or above). */
    async remove(p: Principal, id: string): Promise<void> {
      const { sb, role } = await reach(p, id)
      requireRole(role, 'member')
      await deleteSandbox(d.db, sb.id)
      forget(sb.id)
      d.onRemoved?.(sb)
      if (sb.capsule_id) await d.cloud.destroy(sb.capsule_id).catch((err) => d.log.warn('sandbox capsule not destroyed', { sandbox: sb.id, err }))
    },

    /** Pauses a running cloud sandbox's capsule (its service's memory is kept). */
    async pause(p: Principal, id: string): Promise<SandboxRow> {
      const { sb, role } = await reach(p, id)
      requireRole(role, 'member')
      if (sb.kind !== 'cloud') throw invalid('only cloud sandboxes can be paused', 'not_cloud')
      if (sb.status === 'paused') return sb
      if (sb.status !== 'running' || !sb.capsule_id) throw conflict(`sandbox is ${sb.status}, not running`, 'not_running')
      await d.cloud.pause(sb.capsule_id)
      await set(sb.id, { status: 'paused' })
      return { ...sb, status: 'paused' }
    },

    /** Resumes a paused cloud sandbox; running again once its service answers. */
    async resume(p: Principal, id: string): Promise<SandboxRow> {
      const { sb, role } = await reach(p, id)
      requireRole(role, 'member')
      if (sb.kind !== 'cloud') throw invalid('only cloud sandboxes can be resumed', 'not_cloud')
      if (sb.status === 'running' || sb.status === 'creating') return sb
      if (sb.status !== 'paused' || !sb.capsule_id) throw conflict(`sandbox is ${sb.status}, not paused`, 'not_paused')
      await d.cloud.resume(sb.capsule_id)
      await set(sb.id, { status: 'creating' })
      watchReady({ ...sb, capsule_id: sb.capsule_id })
      return { ...sb, status: 'creating' }
    },

    /** The sandbox of a subdomain's short id with its current status (held a second between changes), or null. */
    async byShortId(shortId: string): Promise<SandboxRow | null> {
      const hit = byShortId.get(shortId)
      if (hit && hit.until > now()) return hit.row
      const row = await findSandboxByShortId(d.db, shortId)
      if (!row) return null
      const cur = await current(row)
      if (byShortId.size > 10_000) byShortId.clear()
      byShortId.set(shortId, { row: cur, until: now() + HOST_CACHE_MS })
      return cur
    },

    /** A capsule changed state: its sandbox's status follows (creating → running waits for the service to answer). */
    async capsuleChanged(capsuleId: string): Promise<void> {
      const sb = await findSandboxByCapsule(d.db, capsuleId)
      if (!sb) return
      forget(sb.id)
      const cur = await current(sb)
      // resumed from outside (e.g. /v1/capsules): running again once the service answers
      if (cur.status === 'creating' && sb.status !== 'creating') watchReady({ ...cur, capsule_id: capsuleId })
    },

    /** The sandbox a valid proxy token names while it is running or starting, else null. */
    async proxyCaller(token: string): Promise<SandboxRow | null> {
      const id = d.tokens.proxyTokenSandbox(token)
      const sb = id ? await findSandbox(d.db, id) : undefined
      if (!sb) return null
      const cur = await current(sb)
      return cur.status === 'running' || cur.status === 'creating' ? cur : null
    },

    /** Removes the rows of a deleted team and destroys their capsules. */
    async removeTeam(rows: { id: string; capsule_id: string | null }[]) {
      for (const r of rows) if (r.capsule_id) await d.cloud.destroy(r.capsule_id).catch((err) => d.log.warn('sandbox capsule not destroyed', { sandbox: r.id, err }))
    },

    // ---- local agents (called by lib/tunnel's agent registration and tunnel) ----

    /** A local opencode sandbox (status offline until its agent connects) and its tunnel token (only the hash is kept). */
    async createLocal(input: { workspaceId: string; name: string; createdBy?: string | null }): Promise<{ sandbox: SandboxRow; tunnelToken: string }> {
      const name = input.name.trim() || 'Local Agent'
      if (!NAME.test(name)) throw invalid('name must be 1-100 characters without control characters', 'invalid_name')
      const tunnelToken = randomBytes(32).toString('base64url')
      const sb = { ...newRow(input.workspaceId, name, 'opencode', 'local', input.createdBy ?? null), tunnel_token_hash: sha256hex(tunnelToken) }
      await insertSandbox(d.db, sb)
      return { sandbox: sb, tunnelToken }
    },

    /** The local sandbox when `token` is its tunnel token (constant-time compare), else null. */
    async verifyTunnelToken(sandboxId: string, token: string): Promise<SandboxRow | null> {
      if (!token || token.length > 256) return null
      const sb = await findSandbox(d.db, sandboxId)
      if (!sb || sb.kind !== 'local' || !sb.tunnel_token_hash) return null
      return safeEqual(sha256hex(token), sb.tunnel_token_hash) ? sb : null
    },

    async markAgentConnected(sandboxId: string, info?: object): Promise<void> {
      await set(sandboxId, { status: 'running', last_seen_at: now() })
      if (info) await recordAgentInfo(sandboxId, info)
    },

    async markAgentDisconnected(sandboxId: string): Promise<void> {
      await set(sandboxId, { status: 'offline', last_seen_at: now() })
    },

    recordAgentInfo,
  }
}
export type SandboxService = ReturnType<typeof createSandboxService>
