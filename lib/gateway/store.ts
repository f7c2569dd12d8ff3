/** Every query of the gateway (sqlite/0030_gateway.sql). */
import { CompiledQuery, sql, type Kysely } from 'kysely'
import type { Database, Db } from '../core/db.ts'
import type { GatewayKeyRow, GatewaySpendLogRow, GatewayTeamBudgetRow } from './tables.ts'

type Q = Kysely<Database>

export const getSetting = async (db: Db, name: string) => (await db.selectFrom('gateway_settings').select('value').where('name', '=', name).executeTakeFirst())?.value

/** Stores a setting unless one exists; returns the value now stored (another process may have won). */
export async function putSettingOnce(db: Db, name: string, value: string): Promise<string> {
  await db.insertInto('gateway_settings').values({ name, value }).onConflict((oc) => oc.column('name').doNothing()).execute()
  return (await getSetting(db, name))!
}

export const insertKey = (db: Q, row: GatewayKeyRow) => db.insertInto('gateway_keys').values(row).execute()
export const findKeyByHash = (db: Db, hash: string) => db.selectFrom('gateway_keys').selectAll().where('token_hash', '=', hash).executeTakeFirst()
export const findKeyById = (db: Db, id: string) => db.selectFrom('gateway_keys').selectAll().where('id', '=', id).executeTakeFirst()
export const findKeyByCapsule = (db: Db, capsuleId: string) => db.selectFrom('gateway_keys').selectAll().where('capsule_id', '=', capsuleId).executeTakeFirst()

export async function updateKey(db: Q, id: string, patch: Partial<GatewayKeyRow>) {
  await db.updateTable('gateway_keys').set(patch).where('id', '=', id).execute()
}

export async function deleteKeys(db: Q, ids: string[]) {
  if (ids.length) await db.deleteFrom('gateway_keys').where('id', 'in', ids).execute()
}

export function listKeys(db: Db, f: { teamId?: string | null; userId?: string; alias?: string; offset: number; limit: number }) {
  let q = db.selectFrom('gateway_keys').selectAll()
  if (f.teamId !== undefined) q = f.teamId === null ? q.where('team_id', 'is', null) : q.where('team_id', '=', f.teamId)
  if (f.userId !== undefined) q = q.where('user_id', '=', f.userId)
  if (f.alias !== undefined) q = q.where('key_alias', '=', f.alias)
  return q.orderBy('created_at', 'desc').orderBy('id').offset(f.offset).limit(f.limit).execute()
}

export async function countKeys(db: Db, f: { teamId?: string | null; userId?: string; alias?: string }) {
  let q = db.selectFrom('gateway_keys').select((eb) => eb.fn.countAll<number>().as('n'))
  if (f.teamId !== undefined) q = f.teamId === null ? q.where('team_id', 'is', null) : q.where('team_id', '=', f.teamId)
  if (f.userId !== undefined) q = q.where('user_id', '=', f.userId)
  if (f.alias !== undefined) q = q.where('key_alias', '=', f.alias)
  return Number((await q.executeTakeFirstOrThrow()).n)
}

export const findTeamBudget = (db: Db, teamId: string) => db.selectFrom('gateway_team_budgets').selectAll().where('team_id', '=', teamId).executeTakeFirst()
export const listTeamBudgets = (db: Db) => db.selectFrom('gateway_team_budgets').selectAll().execute()

export async function upsertTeamBudget(db: Q, row: GatewayTeamBudgetRow) {
  const { team_id, ...rest } = row
  await db.insertInto('gateway_team_budgets').values(row).onConflict((oc) => oc.column('team_id').doUpdateSet(rest)).execute()
}

export const teamExists = async (db: Db, teamId: string) =>
  (await db.selectFrom('teams').select('id').where('id', '=', teamId).where('deleted_at', 'is', null).executeTakeFirst()) !== undefined

/**
 * Writes a batch of spend rows and adds their spend to the keys and teams, in
 * one transaction (callers batch, so this runs a few times a second at most).
 */
/** The spend log's columns, in the order of the insert's parameters. */
const SPEND_COLUMNS = [
  'request_id', 'call_type', 'api_key', 'key_alias', 'spend', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cache_read_tokens', 'cache_write_tokens',
  'reasoning_tokens', 'start_time', 'end_time', 'completion_start_time', 'model', 'model_id', 'model_group', 'custom_llm_provider', 'api_base', 'end_user',
  'team_id', 'capsule_id', 'metadata', 'cache_hit', 'request_tags', 'status',
] as const satisfies ReadonlyArray<keyof GatewaySpendLogRow>
const spendInsertSql = new WeakMap<object, string>()

/**
 * The one-row spend insert, compiled by kysely once per database and then run
 * with each row's parameters: compiling a multi-row insert cost more than
 * SQLite's own work (each run uses the cached prepared statement).
 */
function spendInsert(db: Q): string {
  let text = spendInsertSql.get(db)
  if (!text) {
    const row = Object.fromEntries(SPEND_COLUMNS.map((c) => [c, null])) as unknown as GatewaySpendLogRow
    text = db.insertInto('gateway_spend_logs').values(row).onConflict((oc) => oc.doNothing()).compile().sql
    spendInsertSql.set(db, text)
  }
  return text
}

/**
 * Writes a batch of spend rows and adds their spend to the keys and teams, in
 * one transaction (callers batch, so this runs a few times a second at most).
 */
export async function writeSpend(db: Db, rows: GatewaySpendLogRow[], keySpend: Map<string, number>, teamSpend: Map<string, number>) {
  const text = spendInsert(db)
  await db.transaction().execute(async (tx) => {
    for (const r of rows) await tx.executeQuery(CompiledQuery.raw(text, SPEND_COLUMNS.map((c) => r[c])))
    for (const [id, spend] of keySpend) await tx.updateTable('gateway_keys').set({ spend: sql`spend + ${spend}` }).where('id', '=', id).execute()
    for (const [teamId, spend] of teamSpend) await tx.updateTable('gateway_team_budgets').set({ spend: sql`spend + ${spend}` }).where('team_id', '=', teamId).execute()
  })
}

export type SpendFilter = { apiKey?: string; teamId?: string; teamIds?: string[]; user?: string; model?: string; from?: number; to?: number; requestId?: string; limit: number; offset: number }

export function listSpendLogs(db: Db, f: SpendFilter) {
  let q = db.selectFrom('gateway_spend_logs').selectAll()
  if (f.requestId) q = q.where('request_id', '=', f.requestId)
  if (f.apiKey) q = q.where('api_key', '=', f.apiKey)
  if (f.teamId) q = q.where('team_id', '=', f.teamId)
  if (f.teamIds) q = q.where('team_id', 'in', f.teamIds.length ? f.teamIds : [''])
  if (f.user) q = q.where('end_user', '=', f.user)
  if (f.model) q = q.where((eb) => eb.or([eb('model', '=', f.model!), eb('model_group', '=', f.model!)]))
  if (f.from !== undefined) q = q.where('start_time', '>=', f.from)
  if (f.to !== undefined) q = q.where('start_time', '<', f.to)
  return q.orderBy('start_time', 'desc').offset(f.offset).limit(f.limit).execute()
}

export async function deleteSpendBefore(db: Db, before: number) {
  const r = await db.deleteFrom('gateway_spend_logs').where('start_time', '<', before).executeTakeFirst()
  return Number(r.numDeletedRows)
}

/** Resets spend of keys and team budgets whose reset time passed; returns the keys' new rows and the teams' ids. */
export async function resetDueBudgets(db: Db, now: number, nextReset: (duration: string) => number | null) {
  return db.transaction().execute(async (tx) => {
    const keys = await tx.selectFrom('gateway_keys').select(['id', 'budget_duration']).where('budget_reset_at', '<=', now).execute()
    for (const k of keys) await tx.updateTable('gateway_keys').set({ spend: 0, budget_reset_at: k.budget_duration ? nextReset(k.budget_duration) : null }).where('id', '=', k.id).execute()
    const teams = await tx.selectFrom('gateway_team_budgets').select(['team_id', 'budget_duration']).where('budget_reset_at', '<=', now).execute()
    for (const t of teams) await tx.updateTable('gateway_team_budgets').set({ spend: 0, budget_reset_at: t.budget_duration ? nextReset(t.budget_duration) : null }).where('team_id', '=', t.team_id).execute()
    const rows = keys.length ? await tx.selectFrom('gateway_keys').selectAll().where('id', 'in', keys.map((k) => k.id)).execute() : []
    return { keys: rows, teams: teams.map((t) => t.team_id) }
  })
}
