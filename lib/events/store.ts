/** Every query of the event log (sqlite/0040_events.sql). */
import type { Db } from '../core/db.ts'

export type NewEvent = { team_id: string | null; type: string; data: string; created_at: number }
export type LoggedEvent = NewEvent & { seq: number }

/** Appends events in order (one INSERT); returns them with their sequence numbers (ascending, as inserted). */
export async function appendEvents(db: Db, rows: NewEvent[]): Promise<LoggedEvent[]> {
  const seqs = (await db.insertInto('events').values(rows).returning('seq').execute()).map((r) => r.seq).sort((a, b) => a - b)
  return rows.map((r, j) => ({ ...r, seq: seqs[j] }))
}

/** Up to `limit` events after `afterSeq`, oldest first; `teamId` undefined = every team and the platform. */
export async function listEventsAfter(db: Db, teamId: string | undefined, afterSeq: number, limit: number): Promise<LoggedEvent[]> {
  let q = db.selectFrom('events').selectAll().where('seq', '>', afterSeq)
  if (teamId !== undefined) q = q.where('team_id', '=', teamId)
  return q.orderBy('seq').limit(limit).execute()
}

export async function deleteEventsBefore(db: Db, before: number): Promise<number> {
  const r = await db.deleteFrom('events').where('created_at', '<', before).executeTakeFirst()
  return Number(r.numDeletedRows)
}

export async function lastEventSeq(db: Db): Promise<number> {
  const r = await db.selectFrom('events').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst()
  return Number(r?.seq ?? 0)
}
