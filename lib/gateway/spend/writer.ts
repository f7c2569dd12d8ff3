/**
 * Spend logging off the request path: rows, with the key and team their spend
 * counts against, queue in memory and are written every spendLogs.flushMs
 * (sooner when many wait, and at stop). A flush writes slices of at most 32
 * rows, one transaction each, yielding to the event loop between slices, so a
 * large backlog never holds requests up for long (SQLite writes are synchronous:
 * a slice takes about half a millisecond, which bounds what a flush adds to a
 * request's latency; 100-row slices held it 3 ms, at the same CPU per row).
 */
import { createBatcher } from '../../core/batcher.ts'
import type { Db } from '../../core/db.ts'
import type { Logger } from '../../core/logger.ts'
import { writeSpend } from '../store.ts'
import type { GatewaySpendLogRow } from '../tables.ts'

const FLUSH_AT = 1000
const SLICE = 32

type Item = { row: GatewaySpendLogRow; keyId: string | null; teamId: string | null }

async function writeSlices(db: Db, items: Item[]) {
  for (let i = 0; i < items.length; i += SLICE) {
    if (i) await new Promise((r) => setImmediate(r))
    const slice = items.slice(i, i + SLICE)
    const keys = new Map<string, number>()
    const teams = new Map<string, number>()
    for (const { row, keyId, teamId } of slice) {
      if (!(row.spend > 0)) continue
      if (keyId) keys.set(keyId, (keys.get(keyId) ?? 0) + row.spend)
      if (teamId) teams.set(teamId, (teams.get(teamId) ?? 0) + row.spend)
    }
    await writeSpend(db, slice.map((x) => x.row), keys, teams)
  }
}

export function createSpendWriter(d: { db: Db; log: Logger; flushMs: number }) {
  const batcher = createBatcher<Item>({
    max: FLUSH_AT,
    delayMs: d.flushMs,
    write: (batch) => writeSlices(d.db, batch),
    onError: (err, batch) => d.log.error('gateway: spend batch not written', { err, rows: batch.length }),
  })

  return {
    /** Queues one call's row; `keyId` / `teamId` name the key and team budget its spend counts against (null = none). */
    record(row: GatewaySpendLogRow, keyId: string | null, teamId: string | null) {
      batcher.add({ row, keyId, teamId })
    },
    /** Runs `fn` after everything queued so far is written, before anything queued later. */
    sequence(fn: () => Promise<unknown>): Promise<void> {
      return batcher.after(() => fn().then(
        () => {},
        (err) => d.log.error('gateway: spend update failed', { err }),
      ))
    },
    /** Writes everything queued so far; resolves when it is in the database. */
    flush: batcher.flush,
    pending: batcher.pending,
  }
}
export type SpendWriter = ReturnType<typeof createSpendWriter>
