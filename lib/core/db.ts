/**
 * The one SQLite database: kysely over better-sqlite3, WAL, foreign keys on,
 * busy timeout. Timestamps are integer milliseconds.
 */
import BetterSqlite3 from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { CoreTables } from './tables.ts'
import type { IdentityTables } from '../identity/tables.ts'
import type { StorageTables } from '../storage/tables.ts'
import type { CapsuleTables } from '../capsules/tables.ts'
import type { GatewayTables } from '../gateway/tables.ts'
import type { EventsTables } from '../events/tables.ts'
import type { ClaudeboxTables } from '../claudebox/tables.ts'
import type { RunsTables } from '../runs/tables.ts'
import type { SandboxTables } from '../sandboxes/tables.ts'
import type { AgentTables } from '../tunnel/agent-store.ts'
import { sqliteNativeBinding } from './native.ts'

export type Database = CoreTables & IdentityTables & StorageTables & CapsuleTables & GatewayTables & EventsTables & ClaudeboxTables & RunsTables & SandboxTables & AgentTables
export type Db = Kysely<Database>

export type DbHandle = { db: Db; sqlite: BetterSqlite3.Database; close: () => Promise<void> }

export function openSqlite(file: string): BetterSqlite3.Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const nativeBinding = sqliteNativeBinding()
  const sqlite = new BetterSqlite3(file, nativeBinding ? { nativeBinding: nativeBinding as string } : {})
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  return sqlite
}

/**
 * better-sqlite3 behind a prepared-statement cache: kysely prepares its SQL on
 * every execution, and compiling a statement costs more than running most of ours.
 * A statement still busy (an unfinished iterate()) is never handed out twice.
 */
function withStatementCache(sqlite: BetterSqlite3.Database, max = 512) {
  const cache = new Map<string, BetterSqlite3.Statement>()
  return {
    prepare(sql: string) {
      let stmt = cache.get(sql)
      if (stmt && !stmt.busy) return stmt
      stmt = sqlite.prepare(sql)
      if (cache.size >= max) cache.delete(cache.keys().next().value!)
      cache.set(sql, stmt)
      return stmt
    },
    close() {
      cache.clear()
      sqlite.close()
    },
  }
}

export function openDb(file: string): DbHandle {
  const sqlite = openSqlite(file)
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) as unknown as BetterSqlite3.Database }) })
  let closed = false
  return {
    db,
    sqlite,
    close: async () => {
      if (closed) return
      closed = true
      await db.destroy() // closes the better-sqlite3 handle too
    },
  }
}
