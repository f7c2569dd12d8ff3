/**
 * Who may use /stealthy-auto-browse/: the generated token (bootstrap.txt, kept
 * across restarts, never a default), a configured token, API keys of the pool's
 * team (not viewers, not other teams); the queue endpoints need nothing; errors
 * come in the original's envelope.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addMember } from '../capsules/fixtures.ts'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { client, startPool, status } from './pool-helpers.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-browser-auth-'))
let nb: TestNestbox
let token: string

test.before(async () => {
  ;({ nb, token } = await startPool({}, { dataDir }))
})
test.after(async () => {
  await nb?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

test('queue health and status need no credentials', async () => {
  const h = await fetch(`${nb.url}/stealthy-auto-browse/__queue/health`)
  assert.is(h.status, 200)
  assert.equal(await h.json(), { status: 'ok' })
  const s = await status(nb)
  assert.is(s.status, 'ok')
  assert.is(s.num_replicas, 1)
  assert.equal(s.replicas, [], 'no replica runs before the first request')
})

test('no token, a wrong token, the original default: 401 in the envelope', async () => {
  assert.match(token, /^sab_[0-9a-f]{48}$/)
  const none = await fetch(`${nb.url}/stealthy-auto-browse/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"action":"ping"}' })
  assert.is(none.status, 401)
  const b = (await none.json()) as { success: boolean; error: string; timestamp: number }
  assert.is(b.success, false)
  assert.is(b.error, 'Unauthorized')
  assert.type(b.timestamp, 'number')
  for (const bad of ['lulz-4-security', token + 'x', 'wrn_' + '0'.repeat(32)]) {
    const r = await client(nb, bad).post({ action: 'ping' })
    assert.is(r.status, 401, bad)
    assert.is(r.body.error, 'Unauthorized')
  }
  const shot = await fetch(`${nb.url}/stealthy-auto-browse/screenshot/browser`)
  assert.is(shot.status, 401)
  assert.equal(await status(nb).then((s) => s.replicas), [], 'refused requests start no replica')
})

test('the generated token drives the browser and the answer sets INSTANCEID', async () => {
  const c = client(nb, token)
  const r = await c.post({ action: 'ping' })
  assert.is(r.status, 200)
  assert.is(r.body.success, true)
  assert.equal(r.body.data, { message: 'pong', url: 'about:blank' })
  assert.match(r.instance ?? '', /^br-[0-9a-z]+$/)
  assert.match(r.setCookie!, /Path=\/stealthy-auto-browse\/; HttpOnly/)
  const s = await status(nb)
  assert.is(s.running, 1)
  assert.is(s.replicas[0].id, r.instance)
  assert.is(s.replicas[0].state, 'idle')
})

test('API keys: the team owner and members yes; viewers and other teams no', async () => {
  assert.is((await client(nb, nb.apiKey).post({ action: 'ping' })).body.success, true)
  const member = await addMember(nb, 'member', nb.bootstrap.team_id)
  assert.is((await client(nb, member.key).post({ action: 'ping' })).body.success, true)
  const viewer = await addMember(nb, 'viewer', nb.bootstrap.team_id)
  const v = await client(nb, viewer.key).post({ action: 'ping' })
  assert.is(v.status, 403)
  assert.is(v.body.success, false)
  const other = await addMember(nb, 'owner')
  const o = await client(nb, other.key).post({ action: 'ping' })
  assert.is(o.status, 403)
  assert.match(o.body.error!, /another team/)
})

test('a body that is not JSON: 400 in the envelope; an unknown action: 200 with success false', async () => {
  const c = client(nb, token)
  const bad = await c.post(null, { raw: '{"action":' })
  assert.is(bad.status, 400)
  assert.is(bad.body.success, false)
  const unknown = await c.post({ action: 'no_such_action' })
  assert.is(unknown.status, 200)
  assert.is(unknown.body.success, false)
  assert.match(unknown.body.error!, /Unknown action/)
  const bigShot = await fetch(`${nb.url}/stealthy-auto-browse/screenshot/browser?width=abc`, { headers: { authorization: `Bearer ${token}` } })
  assert.is(bigShot.status, 400)
  assert.is(((await bigShot.json()) as { success: boolean }).success, false)
})

test('the generated token survives a restart and is written to bootstrap.txt once', async () => {
  await nb.close()
  nb = await startTestNestbox({ dataDir, set: { 'browser.replicas': 1 }, keepData: true })
  assert.is(nb.bootstrap.stealthy_auto_browse_token, token, 'bootstrap.txt still holds the first token only')
  assert.is(readFileSync(join(dataDir, 'bootstrap.txt'), 'utf8').match(/stealthy_auto_browse_token=/g)!.length, 1)
  assert.not.match(readFileSync(join(dataDir, 'browser-token.sha256'), 'utf8'), token, 'only the hash is stored')
  const again = await client(nb, token).post({ action: 'ping' })
  assert.is(again.body.success, true, JSON.stringify(again.body))
})

test('a configured token replaces the generated one', async () => {
  const conf = 'configured-browser-token-123'
  const other = await startTestNestbox({ set: { 'browser.replicas': 1, 'browser.token': conf } })
  try {
    assert.is(other.bootstrap.stealthy_auto_browse_token, undefined, 'nothing generated')
    assert.is((await client(other, 'sab_' + '0'.repeat(48)).post({ action: 'ping' })).status, 401)
    assert.is((await client(other, conf).post({ action: 'ping' })).body.success, true)
  } finally {
    await other.close()
  }
})

test.run()
