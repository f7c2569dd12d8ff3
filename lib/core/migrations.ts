/**
 * Forward-only schema migrations, applied in the order listed. Listed explicitly
 * (not discovered) so the bundled executable embeds exactly these files. Never
 * edit a file once it has landed; add a new one.
 */
import type BetterSqlite3 from 'better-sqlite3'
import { readMigration } from './migration-source.ts'

export const MIGRATIONS = [
  '0001_foundation.sql',
  '0002_accounts.sql',
  '0003_oauth.sql',
  '0010_storage.sql',
  '0011_storage_tags.sql',
  '0012_storage_parts.sql',
  '0020_capsules.sql',
  '0021_minimal_template_created_at.sql',
  '0022_capsule_network.sql',
  '0030_gateway.sql',
  '0031_gateway_object_permission.sql',
  '0040_events.sql',
  '0041_channels.sql',
  '0042_builds.sql',
  '0050_runs.sql',
  '0051_computers.sql',
  '0060_claudebox.sql',
  '0070_sandboxes.sql',
  '0071_agent_codes.sql',
] as const

export class MigrationError extends Error {
  readonly file: string
  constructor(file: string, cause: unknown) {
    super(`migration ${file} failed: ${(cause as Error)?.message ?? cause}`, { cause })
    this.file = file
  }
}

/** True for a database no migration has touched yet (first start). */
export function isNewDatabase(sqlite: BetterSqlite3.Database): boolean {
  return !sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").get()
}

export type MigrationResult = { applied: string[]; total: number }

/**
 * Applies every pending migration, each in its own transaction together with its
 * bookkeeping row: a failing file leaves the database exactly as before it.
 */
export function migrate(sqlite: BetterSqlite3.Database, files: readonly string[] = MIGRATIONS, read = readMigration): MigrationResult {
  sqlite.exec('CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)')
  const done = new Set((sqlite.prepare('SELECT name FROM _migrations').all() as { name: string }[]).map((r) => r.name))
  const record = sqlite.prepare('INSERT INTO _migrations (name, applied_at) VALUES (?, ?)')
  const applied: string[] = []
  for (const file of files) {
    if (done.has(file)) continue
    let sql: string
    try {
      sql = read(file)
    } catch (e) {
      throw new MigrationError(file, e)
    }
    try {
      sqlite.transaction(() => {
        sqlite.exec(sql)
        record.run(file, Date.now())
      })()
    } catch (e) {
      throw new MigrationError(file, e)
    }
    applied.push(file)
  }
  return { applied, total: files.length }
}
