import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { newUser } from './helpers.ts'

let nb: TestNestbox
test.before(async () => {
  nb = await startTestNestbox({ set: { 'identity.rateLimit.signupPerIp': 1000 } })
})
test.after(() => nb.close())

const withKey = (key: string, path: string, init: RequestInit = {}) => fetch(nb.url + path, { ...init, headers: { 'x-api-key': key, ...(init.headers as object) } })

test('create: wrn_ + 32 hex, shown once, stored as SHA-256', async () => {
  const { b, team_id } = await newUser(nb, 'keys@example.com')
  const r = await b.post('/v1/api-keys', { name: 'ci' })
  assert.is(r.status, 201)
  const k = await r.json()
  assert.match(k.key, /^wrn_[0-9a-f]{32}$/)
  assert.equal([k.name, k.team_id, k.last_used], ['ci', team_id, null])
  assert.is(k.key_prefix, k.key.slice(0, 12) + '...')
  const row = await nb.services.db.selectFrom('api_keys').selectAll().where('id', '=', k.id).executeTakeFirstOrThrow()
  assert.is(row.key_hash, createHash('sha256').update(k.key).digest('hex'))
  assert.not.ok(JSON.stringify(row).includes(k.key), 'plaintext is not stored')
  const list = await (await b.get('/v1/api-keys')).json()
  assert.is(list.length, 1)
  assert.is(list[0].id, k.id)
  assert.is(list[0].key, undefined, 'never shown again')
  const unnamed = await (await b.post('/v1/api-keys')).json()
  assert.is(unnamed.name, 'Unnamed API Key')
  assert.is((await b.post('/v1/api-keys', { name: 'x'.repeat(101) })).status, 400)
})

test('X-API-Key and Bearer both authenticate, scoped to the key team; last_used is recorded', async () => {
  const { b, team_id, user_id } = await newUser(nb, 'bearer@example.com')
  const k = await (await b.post('/v1/api-keys', { name: 'b' })).json()
  const viaHeader = await (await withKey(k.key, '/v1/me')).json()
  assert.equal([viaHeader.id, viaHeader.team_id], [user_id, team_id])
  const viaBearer = await fetch(nb.url + '/v1/me', { headers: { authorization: `Bearer ${k.key}` } })
  assert.is(viaBearer.status, 200)
  const listed = (await (await b.get('/v1/api-keys')).json()).find((x: { id: string }) => x.id === k.id)
  assert.ok(listed.last_used && Date.now() - Date.parse(listed.last_used) < 60_000)
  const teams = await (await withKey(k.key, '/v1/teams')).json()
  assert.equal(teams.map((t: { id: string }) => t.id), [team_id])
  const wrong = await withKey('wrn_' + 'f'.repeat(32), '/v1/me')
  assert.is(wrong.status, 401)
  assert.is((await wrong.json()).error.code, 'invalid_api_key')
})

test('delete: the key stops working at once; other teams cannot see or delete it', async () => {
  const { b } = await newUser(nb, 'deleter@example.com')
  const other = await newUser(nb, 'other-team@example.com')
  const k = await (await b.post('/v1/api-keys', { name: 'temp' })).json()
  assert.is((await withKey(k.key, '/v1/me')).status, 200)
  assert.is((await other.b.del(`/v1/api-keys/${k.id}`)).status, 404)
  assert.is((await other.b.get('/v1/api-keys').then((r) => r.json())).length, 0)
  assert.is((await b.del(`/v1/api-keys/${k.id}`)).status, 204)
  assert.is((await withKey(k.key, '/v1/me')).status, 401, 'no stale cache after delete')
  assert.is((await b.del(`/v1/api-keys/${k.id}`)).status, 404)
})

test('a key acts with its creator’s current role: removal from the team ends it', async () => {
  const owner = await newUser(nb, 'kowner@example.com')
  const dev = await newUser(nb, 'kdev@example.com')
  await owner.b.post(`/v1/teams/${owner.team_id}/members`, { email: 'kdev@example.com' })
  assert.is((await dev.b.post('/v1/auth/switch-team', { team_id: owner.team_id })).status, 200)
  const k = await (await dev.b.post('/v1/api-keys', { name: 'dev key' })).json()
  assert.is(k.team_id, owner.team_id)
  // A member may not delete someone else's key; an owner may.
  const ownerKey = await (await owner.b.post('/v1/api-keys', { name: 'owner key' })).json()
  assert.is((await dev.b.del(`/v1/api-keys/${ownerKey.id}`)).status, 403)
  assert.is((await withKey(k.key, '/v1/me')).status, 200)
  assert.is((await owner.b.del(`/v1/teams/${owner.team_id}/members/${dev.user_id}`)).status, 204)
  assert.is((await withKey(k.key, '/v1/me')).status, 401)
})

test.run()
