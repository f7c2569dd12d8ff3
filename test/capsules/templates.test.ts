/** The built-in template's wire fields: a real created_at, kept across restarts and on upgraded databases. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestNestbox } from '../harness.ts'
import { adminSession } from './fixtures.ts'
import { openSqlite } from '../../lib/core/db.ts'
import { MIGRATIONS, migrate } from '../../lib/core/migrations.ts'

type WireTemplate = { name: string; created_at: string; platform: boolean }

const minimalOf = async (nb: Awaited<ReturnType<typeof startTestNestbox>>): Promise<WireTemplate> => {
  const r = await nb.api('/v1/snapshots?type=base')
  assert.is(r.status, 200)
  const t = ((await r.json()) as WireTemplate[]).find((x) => x.name === 'minimal')
  assert.ok(t, 'minimal is listed')
  return t!
}

test('the built-in minimal template reports when it was registered, not 1970, and keeps it across restarts', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-tpl-'))
  const before = Date.now()
  const a = await startTestNestbox({ dataDir })
  const after = Date.now()
  let first: WireTemplate
  try {
    first = await minimalOf(a)
    assert.ok(first.platform)
    const at = Date.parse(first.created_at)
    assert.ok(at >= before - 1000 && at <= after + 1000, `created_at ${first.created_at} is this start's time`)
    const admin = (await (await a.api('/v1/admin/templates', { headers: (await adminSession(a)).headers })).json()) as WireTemplate[]
    assert.is(admin.find((t) => t.name === 'minimal')!.created_at, first.created_at, 'admin view agrees')
  } finally {
    await a.close()
  }
  const b = await startTestNestbox({ dataDir })
  try {
    assert.is((await minimalOf(b)).created_at, first.created_at, 'stored, not recomputed at each start')
  } finally {
    await b.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test('a database created before the fix gets the time its capsules migration registered the template', () => {
  const sqlite = openSqlite(':memory:')
  const upTo = MIGRATIONS.indexOf('0020_capsules.sql') + 1
  migrate(sqlite, MIGRATIONS.slice(0, upTo))
  sqlite.prepare("UPDATE _migrations SET applied_at = 1700000000000 WHERE name = '0020_capsules.sql'").run()
  const old = sqlite.prepare("SELECT created_at FROM capsule_templates WHERE id = 'tpl-minimal'").get() as { created_at: number }
  assert.is(old.created_at, 0, 'the old state this fixes')
  migrate(sqlite)
  const row = sqlite.prepare("SELECT created_at FROM capsule_templates WHERE id = 'tpl-minimal'").get() as { created_at: number }
  assert.is(row.created_at, 1700000000000)
  sqlite.close()
})

test.run()
