import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { openSqlite } from '../../lib/core/db.ts'
import { scratchDir } from '../harness.ts'
import { MIGRATIONS, MigrationError, migrate } from '../../lib/core/migrations.ts'

const mainTs = new URL('../../main.ts', import.meta.url).pathname
const tmp = () => scratchDir('mig')

test('applies every migration once, in order, and records them', () => {
  const db = openSqlite(join(tmp(), 'a.db'))
  const first = migrate(db)
  assert.equal(first.applied, [...MIGRATIONS])
  assert.equal(migrate(db).applied, [])
  const rows = db.prepare('SELECT name FROM _migrations ORDER BY name').all() as { name: string }[]
  assert.equal(rows.map((r) => r.name), [...MIGRATIONS])
  assert.is(db.pragma('journal_mode', { simple: true }), 'wal')
  assert.is(db.pragma('foreign_keys', { simple: true }), 1)
  assert.ok(Number(db.pragma('busy_timeout', { simple: true })) >= 1000)
})

test('a failing migration leaves the database as it was and names its file', () => {
  const db = openSqlite(join(tmp(), 'b.db'))
  const files: Record<string, string> = {
    '0001_ok.sql': 'CREATE TABLE a (x INTEGER);',
    '0002_bad.sql': 'CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1); THIS IS NOT SQL;',
  }
  try {
    migrate(db, Object.keys(files), (n) => files[n])
    assert.unreachable()
  } catch (e) {
    assert.instance(e, MigrationError)
    assert.is((e as MigrationError).file, '0002_bad.sql')
  }
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]).map((r) => r.name)
  assert.ok(tables.includes('a'))
  assert.not.ok(tables.includes('b'), 'partial DDL rolled back')
  assert.is((db.prepare('SELECT count(*) n FROM a').get() as { n: number }).n, 0, 'partial DML rolled back')
  const done = (db.prepare('SELECT name FROM _migrations').all() as { name: string }[]).map((r) => r.name)
  assert.equal(done, ['0001_ok.sql'])
})

test('CLI: `nestbox migrate` applies migrations without serving', () => {
  const dir = tmp()
  const r = spawnSync(process.execPath, [mainTs, 'migrate', '--data-dir', dir], { encoding: 'utf8', env: process.env })
  assert.is(r.status, 0, r.stderr)
  assert.match(r.stdout, /applied 0001_foundation\.sql/)
  assert.ok(existsSync(join(dir, 'nestbox.db')))
  assert.not.ok(existsSync(join(dir, 'bootstrap.txt')), 'migrate does not bootstrap')
  const again = spawnSync(process.execPath, [mainTs, 'migrate', '--data-dir', dir], { encoding: 'utf8', env: process.env })
  assert.match(again.stdout, /up to date/)
})

test('CLI: a broken database stops start-up with the migration file named', () => {
  const dir = tmp()
  mkdirSync(dir, { recursive: true })
  const db = openSqlite(join(dir, 'nestbox.db'))
  db.exec('CREATE TABLE users (id TEXT)') // collides with 0001_foundation.sql
  db.close()
  const r = spawnSync(process.execPath, [mainTs, 'serve', '--data-dir', dir, '--port', '0'], { encoding: 'utf8', env: process.env, timeout: 20_000 })
  assert.is(r.status, 1)
  assert.match(r.stderr, /migration 0001_foundation\.sql failed/)
})

test.run()
