/**
 * Notification channels of a team: CRUD, a test send, secret rotation. Any member
 * reads them; admins and owners change them. Provider configs are sealed at rest
 * and never returned; a webhook's signing secret is shown once, when it is made.
 */
import type { Config } from '../../core/config/index.ts'
import type { Db } from '../../core/db.ts'
import { conflict, forbidden, invalid, notFound, unauthorized } from '../../core/errors.ts'
import type { Clock, IdGen } from '../../core/ids.ts'
import { roleAtLeast, type Principal } from '../../core/principal.ts'
import type { AuditLog } from '../audit.ts'
import type { ChannelRow } from '../tables.ts'
import type { Sealer } from './crypto.ts'
import { assertResolvesPublic } from './destination.ts'
import { buildRequest, destinationOf, isProvider, normalizeConfig, PROVIDERS, type ChannelConfig, type ProviderName } from './providers.ts'
import { attempt } from './send.ts'
import type { Agent } from 'undici'
import { channelsOfTeams, deleteChannel, deleteChannelsOfTeam, deliveryState, findChannel, insertChannel, listChannels, updateChannel } from './store.ts'

/** compat(wrenn): the seed's subscribable events, then nestbox's own (audited team actions). */
export const SUBSCRIBABLE = [
  'capsule.create', 'capsule.pause', 'capsule.resume', 'capsule.destroy', 'template.snapshot.create', 'template.snapshot.delete', 'host.up', 'host.down',
  'api_key.create', 'api_key.delete', 'member.add', 'member.remove', 'member.role_update', 'team.rename',
]

export type ChannelView = ChannelRow & { delivery: Awaited<ReturnType<typeof deliveryState>> }

type Deps = { db: Db; clock: Clock; ids: IdGen; audit: AuditLog; sealer: Sealer; settings: Config['events']['channels']; agent: Agent }

function teamOf(p: Principal, write: boolean): string {
  if (p.kind !== 'user' && p.kind !== 'api_key') throw unauthorized()
  if (!p.teamId || !p.role) throw forbidden('no active team; switch to a team first', 'no_team')
  if (write && !roleAtLeast(p.role, 'admin')) throw forbidden('only team admins and owners can change notification channels', 'insufficient_role')
  return p.teamId
}

function parseName(v: unknown): string {
  if (typeof v !== 'string' || !v.trim() || v.trim().length > 100) throw invalid('name must be a non-empty string of at most 100 characters', 'invalid_name')
  return v.trim()
}

function parseEvents(v: unknown): string[] {
  if (!Array.isArray(v) || v.length === 0) throw invalid('events must be a non-empty array of event types', 'invalid_events')
  const bad = v.find((e) => typeof e !== 'string' || !SUBSCRIBABLE.includes(e))
  if (bad !== undefined) throw invalid(`unknown event type ${JSON.stringify(bad).slice(0, 80)}; subscribable: ${SUBSCRIBABLE.join(', ')}`, 'invalid_events')
  return [...new Set(v as string[])]
}

function parseProvider(v: unknown): ProviderName {
  if (!isProvider(v)) throw invalid(`provider must be one of ${PROVIDERS.join(', ')}`, 'invalid_provider')
  return v
}

const body = (v: unknown): Record<string, unknown> => {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid('request body must be a JSON object')
  return v as Record<string, unknown>
}

export function createChannelService(d: Deps) {
  /** Team → its channels' subscriptions, for routing events; dropped on every change. */
  const routes = new Map<string, Array<{ id: string; events: Set<string> }>>()
  /** Bumped on every change, so a lookup that raced one is not cached. */
  let gen = 0
  const changed = (teamId: string) => {
    gen++
    routes.delete(teamId)
  }

  const view = async (row: ChannelRow): Promise<ChannelView> => ({ ...row, delivery: await deliveryState(d.db, row.id) })
  const load = async (teamId: string, id: string) => {
    const row = await findChannel(d.db, teamId, id)
    if (!row) throw notFound(`channel ${id.slice(0, 64)} not found`)
    return row
  }
  /** normalizeConfig, then the destination's name must resolve to addresses this server may send to. */
  const checkedConfig = async (provider: ProviderName, raw: unknown) => {
    const cfg = normalizeConfig(provider, raw, d.settings)
    // user-chosen hosts only; the chat providers' URLs must start with a configured prefix
    if (provider === 'webhook' || provider === 'matrix') await assertResolvesPublic(new URL(destinationOf(provider, cfg, d.settings)), 'destination', d.settings.allowPrivateDestinations)
    return cfg
  }
  const seal = (id: string, cfg: ChannelConfig) => d.sealer.seal(JSON.stringify(cfg), id)
  const audit = (p: Principal, teamId: string, id: string, action: string, metadata: Record<string, unknown>) =>
    d.audit.record(p, { teamId, resourceType: 'channel', resourceId: id, action, metadata })

  return {
    async list(p: Principal): Promise<ChannelView[]> {
      return Promise.all((await listChannels(d.db, teamOf(p, false))).map(view))
    },

    async get(p: Principal, id: string): Promise<ChannelView> {
      return view(await load(teamOf(p, false), id))
    },

    /** Creates a channel; `secret` is the webhook signing secret (only ever returned here and on rotation). */
    async create(p: Principal, raw: unknown): Promise<{ channel: ChannelView; secret: string | null }> {
      const teamId = teamOf(p, true)
      const b = body(raw)
      const name = parseName(b.name)
      const provider = parseProvider(b.provider)
      const events = parseEvents(b.events)
      const cfg = await checkedConfig(provider, b.config)
      const id = d.ids.id('ch-', 16)
      const now = d.clock.now()
      const row: ChannelRow = { id, team_id: teamId, name, provider, events: JSON.stringify(events), config: seal(id, cfg), created_by: p.kind === 'user' || p.kind === 'api_key' ? p.userId : '', created_at: now, updated_at: now }
      try {
        await insertChannel(d.db, row)
      } catch (err) {
        if (/UNIQUE/.test((err as Error).message)) throw conflict(`a channel named "${name}" already exists in this team`, 'already_exists')
        throw err
      }
      changed(teamId)
      await audit(p, teamId, id, 'create', { name, provider, events })
      return { channel: await view(row), secret: provider === 'webhook' ? cfg.secret : null }
    },

    async update(p: Principal, id: string, raw: unknown): Promise<ChannelView> {
      const teamId = teamOf(p, true)
      const b = body(raw)
      const name = parseName(b.name)
      const events = parseEvents(b.events)
      const row = await load(teamId, id)
      try {
        await updateChannel(d.db, id, { name, events: JSON.stringify(events), updated_at: d.clock.now() })
      } catch (err) {
        if (/UNIQUE/.test((err as Error).message)) throw conflict(`a channel named "${name}" already exists in this team`, 'already_exists')
        throw err
      }
      changed(teamId)
      await audit(p, teamId, id, 'update', { name, events, previous_name: row.name })
      return view(await load(teamId, id))
    },

    /** Replaces the provider config entirely (seed: RotateConfigRequest). */
    async rotate(p: Principal, id: string, raw: unknown): Promise<{ channel: ChannelView; secret: string | null }> {
      const teamId = teamOf(p, true)
      const row = await load(teamId, id)
      const provider = parseProvider(row.provider)
      const cfg = await checkedConfig(provider, body(raw).config)
      await updateChannel(d.db, id, { config: seal(id, cfg), updated_at: d.clock.now() })
      await audit(p, teamId, id, 'rotate_config', { name: row.name })
      return { channel: await view(await load(teamId, id)), secret: provider === 'webhook' ? cfg.secret : null }
    },

    async remove(p: Principal, id: string): Promise<void> {
      const teamId = teamOf(p, true)
      const row = await load(teamId, id)
      await deleteChannel(d.db, id)
      changed(teamId)
      await audit(p, teamId, id, 'delete', { name: row.name, provider: row.provider })
    },

    /** Sends one test notification with an unsaved config (400 with the reason when it does not arrive). */
    async test(p: Principal, raw: unknown): Promise<void> {
      const teamId = teamOf(p, true)
      const b = body(raw)
      const provider = parseProvider(b.provider)
      const cfg = await checkedConfig(provider, b.config)
      const now = new Date(d.clock.now())
      const payload = JSON.stringify({ event: 'channel.test', outcome: 'success', resource: { id: 'test', type: 'channel' }, metadata: { message: 'test notification from nestbox' }, team_id: teamId, timestamp: now.toISOString() })
      const res = await attempt(d.agent, buildRequest(provider, cfg, payload, d.ids.id('test-', 16), d.settings, now), d.settings.timeoutMs)
      if (!res.ok) throw invalid(`test notification failed: ${res.error}`, 'channel_test_failed')
    },

    /** The decrypted config of a stored channel (dispatcher only). */
    configOf(row: ChannelRow): ChannelConfig {
      return JSON.parse(d.sealer.open(row.config, row.id)) as ChannelConfig
    },

    /** Channels of these teams with their subscribed events (cached until a channel changes). */
    async subscribers(teamIds: string[]): Promise<Map<string, Array<{ id: string; events: Set<string> }>>> {
      const missing = teamIds.filter((t) => !routes.has(t))
      const out = new Map(teamIds.map((t) => [t, routes.get(t) ?? []]))
      if (missing.length) {
        const g = gen
        const rows = await channelsOfTeams(d.db, missing)
        for (const t of missing) out.set(t, [])
        for (const r of rows) out.get(r.team_id)!.push({ id: r.id, events: new Set(JSON.parse(r.events) as string[]) })
        if (g === gen) for (const t of missing) routes.set(t, out.get(t)!)
      }
      return out
    },

    /** A deleted team's channels (and their queued deliveries) go with it. */
    async removeTeam(teamId: string): Promise<void> {
      changed(teamId)
      await deleteChannelsOfTeam(d.db, teamId)
      changed(teamId)
    },
  }
}
export type ChannelService = ReturnType<typeof createChannelService>
