/** Graded agent computers (cloudbox seed 002): the id rule, every endpoint, every mustEvent type, limits, runId filtering, teams, restart. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { addMember } from '../capsules/fixtures.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-computers-'))
let nb: TestNestbox

const post = async (path: string, json: unknown, headers: Record<string, string> = {}) => {
  const r = await nb.api(path, { method: 'POST', json, headers })
  return { status: r.status, body: await r.json() }
}
const get = async (path: string, headers: Record<string, string> = {}) => {
  const r = await nb.api(path, { headers })
  return { status: r.status, body: await r.json() }
}

const SPEC = {
  name: 'pr-triage',
  profile: { role: 'staff engineer', seniority: 'staff', onCall: 'primary' },
  filesystem: [
    { path: 'docs/auth-redesign.md', kind: 'design-doc', state: 'draft', description: 'The auth redesign.', timestamp: '2026-01-02', dependsOn: [] },
    { path: 'prs/142.diff', kind: 'diff', state: 'open-pr', dependsOn: ['docs/auth-redesign.md'] },
    { path: 'ci/142.log', kind: 'log', state: 'failing', content: 'FAIL auth.test.ts\n' },
  ],
  collaborators: [
    { id: 'arch', role: 'reviewer', style: 'architectural', focus: 'queue semantics' },
    { id: 'author', role: 'pr-author', style: 'anxious' },
  ],
  objectives: [{ id: 'triage', title: 'Triage PR 142', expectedArtifact: 'notes/triage.md' }],
  rubric: [
    { id: 'design-first', weight: 2, must: 'reads the design doc before the diff', mustEvent: { type: 'readBefore', before: 'docs/auth-redesign.md', after: 'prs/142.diff' } },
    { id: 'read-log', weight: 1, must: 'reads the CI log', mustEvent: { type: 'read', path: 'ci/142.log' } },
    { id: 'notes', weight: 1, must: 'writes notes', mustEvent: { type: 'wrote', path: 'notes/triage.md' } },
    { id: 'decided', weight: 1, must: 'requests changes', mustEvent: { type: 'submitted', objective: 'triage', decision: 'request-changes' } },
    { id: 'any-decision', weight: 1, must: 'decides', mustEvent: { type: 'submitted', objective: 'triage' } },
    { id: 'asked-arch', weight: 1, must: 'asks the architect', mustEvent: { type: 'asked', who: 'arch' } },
    { id: 'right-reviewer', weight: 1, must: 'asks arch, not the author', mustEvent: { type: 'askedOnly', who: 'arch', notWho: 'author' } },
    { id: 'mystery', weight: 3, must: 'an unknown event type', mustEvent: { type: 'telepathy' } },
    { id: 'explain-ci', weight: 1, must: 'explains why CI fails' },
  ],
}
const clone = <T>(v: T): T => structuredClone(v)

// the id rule, computed independently: keys sorted at every depth
const sorted = (v: unknown): unknown => (Array.isArray(v) ? v.map(sorted) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v)
const expectedId = (spec: unknown) => 'cb_' + createHash('sha256').update(JSON.stringify(sorted(spec))).digest('hex').slice(0, 12)

test.before(async () => {
  nb = await startTestNestbox({ dataDir })
})
test.after(async () => {
  await nb?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

test('id: cb_ + 12 hex of SHA-256 over the canonical spec; same spec (any key order) same id, idempotent; any nested change changes it', async () => {
  const a = await post('/api/computers', SPEC)
  assert.is(a.status, 201)
  assert.equal(a.body, { id: expectedId(SPEC), baseUrl: `/api/c/${expectedId(SPEC)}` })
  const reordered = Object.fromEntries(Object.entries(clone(SPEC)).reverse())
  reordered.profile = { onCall: 'primary', seniority: 'staff', role: 'staff engineer' }
  const b = await post('/api/computers', reordered)
  assert.is(b.status, 201)
  assert.is(b.body.id, a.body.id)
  const inits = (await get(`/api/c/${a.body.id}/receipts`)).body.receipts.filter((r: { kind: string }) => r.kind === 'init')
  assert.is(inits.length, 1)
  assert.equal(inits[0].payload, { id: a.body.id, fileCount: 3 })
  const changes: Array<(s: typeof SPEC) => void> = [
    (s) => (s.profile.onCall = 'secondary'),
    (s) => (s.filesystem[1].dependsOn![0] = 'docs/other.md'),
    (s) => (s.collaborators[0].focus = 'latency'),
    (s) => ((s.rubric[0].mustEvent as unknown as Record<string, string>).after = 'ci/142.log'),
    (s) => (s.rubric[2].weight = 2),
    (s) => (s.objectives[0].expectedArtifact = 'notes/other.md'),
    (s) => ((s.filesystem[2] as { content?: string }).content = 'PASS\n'),
  ]
  const ids = new Set([a.body.id])
  for (const change of changes) {
    const s = clone(SPEC)
    change(s)
    const r = await post('/api/computers', s)
    assert.is(r.status, 201)
    assert.is(r.body.id, expectedId(s))
    ids.add(r.body.id)
  }
  assert.is(ids.size, changes.length + 1)
})

test('list, read (generated body, content extension, 404, bad path), write (413), spec', async () => {
  const { id } = (await post('/api/computers', SPEC)).body
  const list = (await get(`/api/c/${id}/list`)).body.files
  assert.equal(list.map((f: { path: string }) => f.path), ['ci/142.log', 'docs/auth-redesign.md', 'prs/142.diff'])
  assert.equal(list[1], { path: 'docs/auth-redesign.md', kind: 'design-doc', state: 'draft', description: 'The auth redesign.', timestamp: '2026-01-02', dependsOn: [] })
  const doc = await get(`/api/c/${id}/read?path=docs/auth-redesign.md`)
  assert.equal(doc.body, { path: 'docs/auth-redesign.md', kind: 'design-doc', content: '# docs/auth-redesign.md\nKind: design-doc\nState: draft\n\nThe auth redesign.\n' })
  assert.is((await get(`/api/c/${id}/read?path=ci/142.log`)).body.content, 'FAIL auth.test.ts\n')
  const missing = await get(`/api/c/${id}/read?path=nope.md`)
  assert.is(missing.status, 404)
  assert.is(missing.body.error, 'file_not_found')
  assert.type(missing.body.detail, 'string')
  for (const p of ['../etc/passwd', '/abs', 'a//b', 'a/./b', 'x'.repeat(241)]) assert.is((await get(`/api/c/${id}/read?path=${encodeURIComponent(p)}`)).body.error, 'bad_path', p)
  assert.is((await get(`/api/c/${id}/read`)).status, 400)

  const w = await post(`/api/c/${id}/write`, { path: 'notes/triage.md', content: '# Notes\n' })
  assert.equal(w, { status: 200, body: { path: 'notes/triage.md', written: 8 } })
  const big = await post(`/api/c/${id}/write`, { path: 'notes/big.md', content: 'x'.repeat(64_001) })
  assert.is(big.status, 413)
  assert.is(big.body.error, 'content_too_large')
  assert.is((await post(`/api/c/${id}/write`, { path: 'notes/ok.md', content: 'x'.repeat(64_000) })).status, 200)
  assert.is((await post(`/api/c/${id}/write`, { path: '../x', content: 'x' })).body.error, 'bad_path')
  assert.is((await post(`/api/c/${id}/write`, { path: 'a.md', content: 5 })).status, 400)
  const after = (await get(`/api/c/${id}/list`)).body.files
  assert.ok(after.some((f: { path: string; kind: string; state: string }) => f.path === 'notes/triage.md' && f.kind === 'agent-write' && f.state === 'written'))
  assert.equal((await get(`/api/c/${id}/read?path=notes/triage.md`)).body, { path: 'notes/triage.md', kind: 'agent-write', content: '# Notes\n' })
  assert.equal((await get(`/api/c/${id}/spec`)).body, SPEC)
  const gone = await get('/api/c/cb_000000000000/list')
  assert.equal(gone, { status: 404, body: { error: 'computer_not_found', detail: 'computer cb_000000000000 not found' } })
})

test('ask, submit, grade over every mustEvent type; receipts; grading is a pure replay', async () => {
  const s = clone(SPEC)
  s.name = 'grading'
  const { id } = (await post('/api/computers', s)).body
  const g0 = (await get(`/api/c/${id}/grade`)).body
  assert.equal(g0, {
    score: 0, max: 11, totalWeight: 12, passed: [], failed: ['design-first', 'read-log', 'notes', 'decided', 'any-decision', 'asked-arch', 'right-reviewer', 'mystery'], ungraded: ['explain-ci'],
    detail: s.rubric.map((c) => ({ id: c.id, weight: c.weight, must: c.must, status: c.mustEvent ? 'failed' : 'ungraded' })),
  })
  await get(`/api/c/${id}/read?path=docs/auth-redesign.md`)
  await get(`/api/c/${id}/read?path=prs/142.diff`)
  await get(`/api/c/${id}/read?path=ci/142.log`)
  await post(`/api/c/${id}/write`, { path: 'notes/triage.md', content: 'n' })
  const ask = await post(`/api/c/${id}/ask`, { who: 'arch', message: 'Should this use a queue?' })
  assert.equal(ask.body, { from: 'arch', role: 'reviewer', style: 'architectural', reply: '[architectural] reviewer replying re: "Should this use a queue?". From my angle (queue semantics): worth checking that against the spec.' })
  assert.is((await post(`/api/c/${id}/ask`, { who: 'nobody', message: 'hi' })).body.error, 'collaborator_not_found')
  assert.is((await post(`/api/c/${id}/ask`, { who: 'arch' })).status, 400)
  const sub = await post(`/api/c/${id}/submit`, { objective: 'triage', decision: 'approve', paths: ['notes/triage.md'], notes: 'lgtm' })
  assert.equal(sub.body, { objective: 'triage', accepted: true })
  assert.is((await post(`/api/c/${id}/submit`, { objective: 'ship' })).body.error, 'objective_not_found')
  const g1 = (await get(`/api/c/${id}/grade`)).body
  assert.equal(g1.passed, ['design-first', 'read-log', 'notes', 'any-decision', 'asked-arch', 'right-reviewer'])
  assert.equal(g1.failed, ['decided', 'mystery'])
  assert.is(g1.score, 7)
  // grade receipts do not change the grade
  assert.equal((await get(`/api/c/${id}/grade`)).body, g1)
  await post(`/api/c/${id}/submit`, { objective: 'triage', decision: 'request-changes' })
  await post(`/api/c/${id}/ask`, { who: 'author', message: 'why?' })
  const g2 = (await get(`/api/c/${id}/grade`)).body
  assert.equal(g2.failed, ['right-reviewer', 'mystery'])
  assert.is(g2.score, 7)
  const receipts = (await get(`/api/c/${id}/receipts`)).body.receipts
  assert.equal(receipts.map((r: { kind: string }) => r.kind), ['init', 'grade', 'read', 'read', 'read', 'write', 'ask', 'submit', 'grade', 'grade', 'submit', 'ask', 'grade'])
  assert.equal(receipts[1].payload, { score: 0, max: 11 })
  assert.equal(receipts[6].payload.who, 'arch')
  assert.equal(receipts[7].payload, { objective: 'triage', decision: 'approve', paths: ['notes/triage.md'], notes: 'lgtm' })
  assert.ok(receipts.every((r: { ts: number }, i: number) => typeof r.ts === 'number' && (i === 0 || r.ts >= receipts[i - 1].ts)))
})

test("readBefore's edge cases", async () => {
  const spec = (name: string) => ({ name, profile: { role: 'x' }, filesystem: [{ path: 'a.md', kind: 'memo' }, { path: 'b.md', kind: 'memo' }], collaborators: [], objectives: [], rubric: [{ id: 'order', weight: 1, must: 'a before b', mustEvent: { type: 'readBefore', before: 'a.md', after: 'b.md' } }] })
  const cases: Array<[string, string[], boolean]> = [
    ['before then after', ['a.md', 'b.md'], true],
    ['after then before', ['b.md', 'a.md'], false],
    ['only before', ['a.md'], true],
    ['only after', ['b.md'], false],
    ['neither', [], false],
    ['after, before, after again', ['b.md', 'a.md', 'b.md'], false],
    ['before twice around after', ['a.md', 'b.md', 'a.md'], true],
  ]
  for (const [name, reads, pass] of cases) {
    const { id } = (await post('/api/computers', spec(name))).body
    for (const p of reads) await get(`/api/c/${id}/read?path=${p}`)
    const g = (await get(`/api/c/${id}/grade`)).body
    assert.is(g.score, pass ? 1 : 0, name)
    assert.equal(pass ? g.passed : g.failed, ['order'], name)
  }
})

test('limits and bad specs answer 400/413 {error, detail}, never 500', async () => {
  const many = clone(SPEC)
  many.filesystem = Array.from({ length: 101 }, (_, i) => ({ path: `f${i}.md`, kind: 'memo' })) as typeof SPEC.filesystem
  const bads: unknown[] = [
    null, [], 'x', 5, {}, { profile: 1 }, { profile: {} }, { profile: { role: '' } },
    { ...SPEC, filesystem: 'x' }, many, { ...SPEC, filesystem: [{ path: '../x', kind: 'memo' }] }, { ...SPEC, filesystem: [{ path: 'a', kind: 'memo' }, { path: 'a', kind: 'memo' }] },
    { ...SPEC, filesystem: [{ path: 'a' }] }, { ...SPEC, collaborators: [{ id: 'x' }] }, { ...SPEC, objectives: [{ title: 't' }] },
    { ...SPEC, rubric: [{ id: 'r', weight: 'heavy', must: 'x' }] }, { ...SPEC, rubric: [{ id: 'r', weight: 1, must: 'x', mustEvent: 'read' }] }, { ...SPEC, runId: 7 },
  ]
  for (const b of bads) {
    const r = await post('/api/computers', b)
    assert.is(r.status, 400, JSON.stringify(b)?.slice(0, 80))
    assert.type(r.body.error, 'string')
    assert.type(r.body.detail, 'string')
  }
  const huge = { ...clone(SPEC), filesystem: [{ path: 'big.md', kind: 'memo', description: 'x'.repeat(128_001) }] }
  const tooBig = await post('/api/computers', huge)
  assert.is(tooBig.status, 413)
  assert.is(tooBig.body.error, 'spec_too_large')
  const hundred = clone(SPEC)
  hundred.filesystem = Array.from({ length: 100 }, (_, i) => ({ path: `f${i}.md`, kind: 'memo' })) as typeof SPEC.filesystem
  assert.is((await post('/api/computers', hundred)).status, 201)
  const notJson = await nb.api('/api/computers', { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } })
  assert.is(notJson.status, 400)
})

test('runId: receipts carry it, ?runId= filters, grade counts only that run, reset starts the run afresh', async () => {
  const s = { ...clone(SPEC), runId: 'run-1' }
  const { id } = (await post('/api/computers', s)).body
  await get(`/api/c/${id}/read?path=ci/142.log`)
  await post(`/api/c/${id}/write`, { path: 'notes/triage.md', content: 'n' })
  const all = (await get(`/api/c/${id}/receipts`)).body.receipts
  assert.ok(all.every((r: { payload: { runId: string } }) => r.payload.runId === 'run-1'))
  assert.equal((await get(`/api/c/${id}/receipts?runId=other`)).body, { receipts: [] })
  // a receipt of another run in the log (e.g. an earlier one) is not counted
  await nb.services.db.insertInto('computer_receipts').values({ team_id: nb.bootstrap.team_id, computer_id: id, ts: Date.now(), kind: 'ask', payload: JSON.stringify({ who: 'arch', message: 'm', reply: 'r', runId: 'run-0' }) }).execute()
  assert.is((await get(`/api/c/${id}/receipts?runId=run-0`)).body.receipts.length, 1)
  const g = (await get(`/api/c/${id}/grade`)).body
  assert.equal(g.passed, ['read-log', 'notes'])
  const reset = await post(`/api/c/${id}/reset`, {})
  assert.equal(reset.body, { reset: true, runId: 'run-1' })
  assert.equal((await get(`/api/c/${id}/receipts?runId=run-1`)).body.receipts.map((r: { kind: string }) => r.kind), ['reset'])
  assert.is((await get(`/api/c/${id}/read?path=notes/triage.md`)).status, 404)
  assert.is((await get(`/api/c/${id}/grade`)).body.score, 0)
  const noRun = await post(`/api/c/${expectedId(SPEC)}/reset`, {})
  assert.is(noRun.status, 400)
  assert.is(noRun.body.error, 'missing_run_id')
})

test('brief: the deterministic draft, which materializes as is', async () => {
  const r = await post('/api/brief', { brief: 'A staff engineer triaging an open PR with failing CI.' })
  assert.is(r.status, 200)
  assert.equal(r.body.spec.profile, { role: 'staff engineer triaging an open pr with failing ci', seniority: 'staff' })
  assert.equal(r.body.spec.filesystem, [{ path: 'BRIEF.md', kind: 'design-doc', description: 'A staff engineer triaging an open PR with failing CI.' }])
  assert.equal(r.body.spec.rubric[0].mustEvent, { type: 'read', path: 'BRIEF.md' })
  assert.is((await post('/api/brief', { brief: 'An SRE, on call this week.' })).body.spec.profile.role, 'sre')
  assert.equal((await post('/api/brief', { brief: 'Help me with taxes' })).body.spec.profile, { role: 'knowledge worker' })
  assert.is((await post('/api/brief', {})).status, 400)
  const made = await post('/api/computers', r.body.spec)
  assert.is(made.status, 201)
  await get(`/api/c/${made.body.id}/read?path=BRIEF.md`)
  assert.is((await get(`/api/c/${made.body.id}/grade`)).body.score, 1)
})

test('teams: another team does not see the computer; the same spec there is its own log; viewers only read; the token works', async () => {
  const { id } = (await post('/api/computers', SPEC)).body
  const other = await addMember(nb, 'owner')
  const theirs = { 'x-api-key': other.key }
  assert.is((await get(`/api/c/${id}/receipts`, theirs)).status, 404)
  assert.is((await post(`/api/c/${id}/write`, { path: 'x.md', content: 'x' }, theirs)).status, 404)
  const mine = await post('/api/computers', SPEC, theirs)
  assert.is(mine.body.id, id)
  assert.is((await get(`/api/c/${id}/receipts`, theirs)).body.receipts.length, 1)
  assert.is((await get(`/api/c/${id}/read?path=notes/triage.md`, theirs)).status, 404)
  const viewer = await addMember(nb, 'viewer', nb.bootstrap.team_id)
  assert.is((await get(`/api/c/${id}/list`, { 'x-api-key': viewer.key })).status, 200)
  assert.is((await post(`/api/c/${id}/write`, { path: 'x.md', content: 'x' }, { 'x-api-key': viewer.key })).status, 403)
  assert.is((await fetch(`${nb.url}/api/c/${id}/list`)).status, 401)
  assert.is((await fetch(`${nb.url}/api/c/${id}/list`, { headers: { 'x-cloudbox-token': nb.bootstrap.cloudbox_api_token } })).status, 200)
})

test('computers, their files and receipts persist across a restart', async () => {
  const { id } = (await post('/api/computers', SPEC)).body
  const before = (await get(`/api/c/${id}/receipts`)).body.receipts
  const grade = (await get(`/api/c/${id}/grade`)).body
  await nb.close()
  nb = await startTestNestbox({ dataDir })
  const after = (await get(`/api/c/${id}/receipts`)).body.receipts
  assert.equal(after.slice(0, before.length), before)
  assert.equal((await get(`/api/c/${id}/read?path=notes/triage.md`)).body.content, '# Notes\n')
  assert.equal((await get(`/api/c/${id}/grade`)).body, grade)
})

test.run()
