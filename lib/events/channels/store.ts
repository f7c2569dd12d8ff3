/** Every query of channels and their deliveries (sqlite/0041_channels.sql). */
import type { Db } from '../../core/db.ts'
import type { ChannelRow, DeliveryRow } from '../tables.ts'

export const findChannel = (db: Db, teamId: string, id: string) => db.selectFrom('channels').selectAll().where('team_id', '=', teamId).where('id', '=', id).executeTakeFirst()
export const findChannelById = (db: Db, id: string) => db.selectFrom('channels').selectAll().where('id', '=', id).executeTakeFirst()
export const listChannels = (db: Db, teamId: string) => db.selectFrom('channels').selectAll().where('team_id', '=', teamId).orderBy('created_at').orderBy('id').execute()
export const insertChannel = (db: Db, row: ChannelRow) => db.insertInto('channels').values(row).execute()
export const updateChannel = (db: Db, id: string, patch: Partial<ChannelRow>) => db.updateTable('channels').set(patch).where('id', '=', id).execute()
export const deleteChannel = (db: Db, id: string) => db.deleteFrom('channels').where('id', '=', id).execute()
export const deleteChannelsOfTeam = (db: Db, teamId: string) => db.deleteFrom('channels').where('team_id', '=', teamId).execute()

/** Every channel of the teams in `teamIds` (id, team, events) for routing events. */
export const channelsOfTeams = (db: Db, teamIds: string[]) =>
  teamIds.length ? db.selectFrom('channels').select(['id', 'team_id', 'events']).where('team_id', 'in', teamIds).execute() : Promise.resolve([])

/** Inserts in slices of 100 rows, yielding to the event loop between them (better-sqlite3 blocks while it writes). */
export async function insertDeliveries(db: Db, rows: DeliveryRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 100) {
    if (i) await new Promise((r) => setImmediate(r))
    await db.insertInto('channel_deliveries').values(rows.slice(i, i + 100)).execute()
  }
}

/** Queued deliveries due by `now`, oldest first, at most one per channel and none of the `skip` channels. */
export async function dueDeliveries(db: Db, now: number, skip: string[], limit: number): Promise<DeliveryRow[]> {
  let q = db.selectFrom('channel_deliveries').selectAll().where('status', '=', 'queued').where('next_attempt_at', '<=', now)
  if (skip.length) q = q.where('channel_id', 'not in', skip)
  const rows = await q.orderBy('next_attempt_at').orderBy('event_seq').limit(limit * 4).execute()
  const seen = new Set<string>()
  return rows.filter((r) => !seen.has(r.channel_id) && seen.add(r.channel_id)).slice(0, limit)
}

/** When the next queued delivery of a channel not in `skip` is due. */
export async function nextDueAt(db: Db, skip: string[]): Promise<number | null> {
  let q = db.selectFrom('channel_deliveries').select((eb) => eb.fn.min('next_attempt_at').as('at')).where('status', '=', 'queued')
  if (skip.length) q = q.where('channel_id', 'not in', skip)
  const r = await q.executeTakeFirst()
  return r?.at == null ? null : Number(r.at)
}

export const updateDelivery = (db: Db, id: string, patch: Partial<DeliveryRow>) => db.updateTable('channel_deliveries').set(patch).where('id', '=', id).execute()

/** What a channel shows about its deliveries: counts and the latest failure and success. */
export async function deliveryState(db: Db, channelId: string) {
  const counts = await db.selectFrom('channel_deliveries').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).where('channel_id', '=', channelId).groupBy('status').execute()
  const lastFailure = await db.selectFrom('channel_deliveries').select(['event_type', 'attempts', 'last_status', 'last_error', 'updated_at', 'status']).where('channel_id', '=', channelId).where('last_error', 'is not', null).orderBy('updated_at', 'desc').limit(1).executeTakeFirst()
  const lastSuccess = await db.selectFrom('channel_deliveries').select(['updated_at']).where('channel_id', '=', channelId).where('status', '=', 'delivered').orderBy('updated_at', 'desc').limit(1).executeTakeFirst()
  const n = (s: string) => Number(counts.find((c) => c.status === s)?.n ?? 0)
  return { queued: n('queued'), delivered: n('delivered'), failed: n('failed'), lastFailure, lastSuccessAt: lastSuccess?.updated_at ?? null }
}

export async function deleteFinishedDeliveriesBefore(db: Db, before: number): Promise<number> {
  const r = await db.deleteFrom('channel_deliveries').where('status', '<>', 'queued').where('updated_at', '<', before).executeTakeFirst()
  return Number(r.numDeletedRows)
}
