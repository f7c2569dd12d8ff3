/**
 * The computers' receipt logs as read for grading: kept parsed in memory per
 * computer (the newest 256 computers), checked against the table on every use
 * (newest seq and count, one indexed query) and topped up with the rows added
 * since, so a grade does not re-read and re-parse the whole log each time. A
 * log that changed otherwise (reset deletes rows) is read again whole.
 */
import { sql } from 'kysely'
import type { Db } from '../core/db.ts'
import type { ComputerReceipt } from './grade.ts'

const MAX_CACHED = 256

export function createReceiptLog(db: Db) {
  const cache = new Map<string, { maxSeq: number; receipts: ComputerReceipt[] }>()
  const rows = (teamId: string, id: string, afterSeq: number) =>
    db.selectFrom('computer_receipts').select(['seq', 'ts', 'kind', 'payload']).where('team_id', '=', teamId).where('computer_id', '=', id).where('seq', '>', afterSeq).orderBy('seq').execute()
  const parse = (r: { ts: number; kind: string; payload: string }): ComputerReceipt => ({ ts: r.ts, kind: r.kind, payload: JSON.parse(r.payload) })

  return {
    async all(teamId: string, id: string): Promise<ComputerReceipt[]> {
      const key = `${teamId}\0${id}`
      const head = await db
        .selectFrom('computer_receipts')
        .select([sql<number | null>`max(seq)`.as('maxSeq'), sql<number>`count(*)`.as('n')])
        .where('team_id', '=', teamId)
        .where('computer_id', '=', id)
        .executeTakeFirstOrThrow()
      const maxSeq = head.maxSeq ?? 0
      let hit = cache.get(key)
      if (hit && hit.maxSeq === maxSeq && hit.receipts.length === head.n) return hit.receipts
      const fresh = await rows(teamId, id, hit ? hit.maxSeq : 0)
      if (hit && hit.receipts.length + fresh.length === head.n) hit = { maxSeq: fresh.at(-1)?.seq ?? hit.maxSeq, receipts: hit.receipts.concat(fresh.map(parse)) }
      else {
        const whole = hit ? await rows(teamId, id, 0) : fresh
        hit = { maxSeq: whole.at(-1)?.seq ?? 0, receipts: whole.map(parse) }
      }
      cache.delete(key)
      cache.set(key, hit)
      if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!)
      return hit.receipts
    },
  }
}
export type ReceiptLog = ReturnType<typeof createReceiptLog>
