/** Queries of the computers tables. */
import type { Db } from '../core/db.ts'
import type { ComputerReceipt } from './grade.ts'
import type { ComputerFileRow } from './tables.ts'

/** Inserts the computer and its init receipt once; false when it already existed (same team, same id). */
export function insertComputerOnce(db: Db, teamId: string, id: string, spec: string, now: number, init: Record<string, unknown>): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const r = await tx.insertInto('computers').values({ team_id: teamId, id, spec, created_at: now }).onConflict((oc) => oc.columns(['team_id', 'id']).doNothing()).executeTakeFirst()
    if (!Number(r.numInsertedOrUpdatedRows)) return false
    await tx.insertInto('computer_receipts').values({ team_id: teamId, computer_id: id, ts: now, kind: 'init', payload: JSON.stringify(init) }).execute()
    return true
  })
}

export const findComputer = (db: Db, teamId: string, id: string) => db.selectFrom('computers').selectAll().where('team_id', '=', teamId).where('id', '=', id).executeTakeFirst()

export const appendReceipt = (db: Db, teamId: string, id: string, r: ComputerReceipt) =>
  db.insertInto('computer_receipts').values({ team_id: teamId, computer_id: id, ts: r.ts, kind: r.kind, payload: JSON.stringify(r.payload) }).execute()

export const listWritten = (db: Db, teamId: string, id: string) => db.selectFrom('computer_files').selectAll().where('team_id', '=', teamId).where('computer_id', '=', id).orderBy('path').execute()

export const findWritten = (db: Db, teamId: string, id: string, path: string) =>
  db.selectFrom('computer_files').selectAll().where('team_id', '=', teamId).where('computer_id', '=', id).where('path', '=', path).executeTakeFirst()

export const putWritten = (db: Db, row: ComputerFileRow) =>
  db.insertInto('computer_files').values(row).onConflict((oc) => oc.columns(['team_id', 'computer_id', 'path']).doUpdateSet({ content: row.content, written_at: row.written_at })).execute()

/** reset: the agent's files and the run's receipts go (in one transaction with the reset receipt). */
export function resetComputer(db: Db, teamId: string, id: string, runId: string, receipt: ComputerReceipt) {
  return db.transaction().execute(async (tx) => {
    await tx.deleteFrom('computer_files').where('team_id', '=', teamId).where('computer_id', '=', id).execute()
    const rows = await tx.selectFrom('computer_receipts').select(['seq', 'payload']).where('team_id', '=', teamId).where('computer_id', '=', id).execute()
    const seqs = rows.filter((r) => JSON.parse(r.payload).runId === runId).map((r) => r.seq)
    for (let i = 0; i < seqs.length; i += 500) await tx.deleteFrom('computer_receipts').where('seq', 'in', seqs.slice(i, i + 500)).execute()
    await tx.insertInto('computer_receipts').values({ team_id: teamId, computer_id: id, ts: receipt.ts, kind: receipt.kind, payload: JSON.stringify(receipt.payload) }).execute()
  })
}

export async function deleteTeamComputers(db: Db, teamId: string) {
  for (const t of ['computer_files', 'computer_receipts', 'computers'] as const) await db.deleteFrom(t).where('team_id', '=', teamId).execute()
}
