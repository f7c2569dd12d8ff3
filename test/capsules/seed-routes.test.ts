/**
 * Every capsule, snapshot and admin capsule/template operation the Wrenn seed
 * (shared/seeds/003) lists is served: without credentials each answers 401 in the
 * Wrenn envelope, never "no such endpoint".
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { TestNestbox } from '../harness.ts'
import { start } from './fixtures.ts'

const SEED = fileURLToPath(new URL('../../../shared/seeds/003_7e90458027622d5f.txt', import.meta.url))
const OURS = /^\/v1\/(capsules|snapshots|admin\/capsules|admin\/templates)(\/|:|$)/

function seedOperations(): Array<[string, string]> {
  // The copy lost its YAML indentation; each line is followed by a "|" line.
  const lines = readFileSync(SEED, 'utf8').split('\n').filter((l) => l.trim() !== '|')
  const ops: Array<[string, string]> = []
  let path: string | null = null
  for (const l of lines) {
    const p = /^(\/[^\s:]+):$/.exec(l.trim())
    if (p) {
      path = OURS.test(p[1]) ? p[1] : null
      continue
    }
    const m = /^(get|post|put|patch|delete):$/.exec(l.trim())
    if (m && path) ops.push([m[1].toUpperCase(), path])
  }
  return ops
}

let nb: TestNestbox
test.before(async () => {
  nb = await start()
})
test.after(() => nb?.close())

test('the seed lists the capsule operations we serve', () => {
  const ops = seedOperations()
  assert.ok(ops.length >= 40, `found ${ops.length} operations`)
})

test('every seed operation is served and requires a principal', async () => {
  for (const [method, path] of seedOperations()) {
    const url = path.replace('{id}', 'sb-00000000').replace('{selector}', '1').replace('{name}', 'x')
    const r = await fetch(nb.url + url, { method, headers: { 'content-type': 'application/json' }, body: method === 'GET' || method === 'DELETE' ? undefined : '{}' })
    const body = await r.json()
    assert.is(r.status, 401, `${method} ${path}: ${JSON.stringify(body)}`)
    assert.type(body.error?.message, 'string')
  }
})

test.run()
