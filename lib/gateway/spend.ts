/**
 * Spend logging off the request path: rows and the spend they add to keys and
 * teams queue in memory and are written in one transaction per flush (every
 * spendLogs.flushMs, sooner when many are waiting, and at stop).
 */
import type { Db } from '../core/db.ts'
import type { Logger } from '../core/logger.ts'
import { writeSpend } from './store.ts'
import type { GatewaySpendLogRow } from './tables.ts'

const FLUSH_AT = 1000

export function createSpendWriter(d: { db: Db; log: Logger; flushMs: number }) {
  let rows: GatewaySpendLogRow[] = []
  let keySpend = new Map<string, number>()
  let teamSpend = new Map<string, number>()
  let timer: NodeJS.Timeout | undefined
  let writing: Promise<void> = Promise.resolve()

  const flush = (): Promise<void> => {
    clearTimeout(timer)
    timer = undefined
    if (!rows.length) return writing
    const batch = { rows, keySpend, teamSpend }
    rows = []
    keySpend = new Map()
    teamSpend = new Map()
    writing = writing.then(() =>
      writeSpend(d.db, batch.rows, batch.keySpend, batch.teamSpend).catch((err) => d.log.error('gateway: spend batch not written', { err, rows: batch.rows.length })),
    )
    return writing
  }

  return {
    /** Queues one call's row; `keyId` / `teamId` name the key and team budget its spend counts against (null = none). */
    record(row: GatewaySpendLogRow, keyId: string | null, teamId: string | null) {
      rows.push(row)
      if (row.spend > 0) {
        if (keyId) keySpend.set(keyId, (keySpend.get(keyId) ?? 0) + row.spend)
        if (teamId) teamSpend.set(teamId, (teamSpend.get(teamId) ?? 0) + row.spend)
      }
      if (rows.length >= FLUSH_AT) void flush()
      else if (!timer) {
        timer = setTimeout(flush, d.flushMs)
        timer.unref()
      }
    },
    /** Runs `fn` after everything queued so far is written, before anything queued later. */
    sequence(fn: () => Promise<unknown>): Promise<void> {
      void flush()
      writing = writing.then(fn).then(
        () => {},
        (err) => d.log.error('gateway: spend update failed', { err }),
      )
      return writing
    },
    /** Writes everything queued so far; resolves when it is in the database. */
    flush,
    pending: () => rows.length,
  }
}
export type SpendWriter = ReturnType<typeof createSpendWriter>
