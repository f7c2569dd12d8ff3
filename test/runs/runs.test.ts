/**
 * Repo runs (cloudbox seed 002) against bare git repositories this test makes
 * under a local root: each run clones inside a fresh capsule from the root bound
 * read-only, so nothing leaves the machine.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestNestbox, until, type TestNestbox } from '../harness.ts'
import { system } from '../../lib/core/principal.ts'
import { reservedBy } from '../../lib/capsules/access.ts'
import { addMember } from '../capsules/fixtures.ts'
import { makeRepo, readSse, repoRoot } from './helpers.ts'

let nb: TestNestbox
let root: string
let repo: { path: string; commits: Record<string, string> }
let token: string

const run = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
  const r = await nb.api('/api/runs', { method: 'POST', json: body, headers })
  return { status: r.status, body: await r.json() }
}

test.before(async () => {
  root = repoRoot()
  repo = makeRepo(root, 'demo', {
    main: { 'README.md': 'hello\n', 'src/app.txt': 'app\n', 'docs/guide.md': 'guide\n', '.gitignore': 'build/\n' },
    feature: { 'FEATURE.md': 'only on feature\n' },
  })
  nb = await startTestNestbox({ set: { 'cloudbox.localRoots': root, 'cloudbox.maxConcurrentRuns': 4 } })
  token = nb.bootstrap.cloudbox_api_token
})
test.after(async () => {
  await nb?.close()
})

test('a passing run: clone, commands, verify, diff with a changed and a new file (ignored files left out), artifact; 200', async () => {
  const { status, body } = await run({
    repo: repo.path,
    commands: ['echo changed >> README.md', 'mkdir -p notes build && echo "# handoff" > notes/HANDOFF.md && echo junk > build/out.o', 'echo to-stderr >&2; echo out'],
    verify: ['test -f notes/HANDOFF.md', 'grep -q changed README.md'],
    artifact: 'notes/HANDOFF.md',
  })
  assert.is(status, 200)
  assert.match(body.runId, /^run_[0-9a-f-]{36}$/)
  assert.is(body.ok, true)
  assert.equal(body.receipts.map((r: { type: string }) => r.type), ['clone', 'command', 'command', 'command', 'verify', 'verify', 'diff'])
  for (const r of body.receipts) {
    assert.is(r.code, 0, r.cmd)
    assert.is(r.signal, null)
    assert.ok(Date.parse(r.startedAt) <= Date.parse(r.finishedAt))
  }
  assert.is(body.receipts[1].cmd, 'echo changed >> README.md')
  assert.is(body.receipts[3].stdout, 'out\n')
  assert.is(body.receipts[3].stderr, 'to-stderr\n')
  assert.match(body.receipts[0].stdout, repo.commits.main)
  assert.equal(body.artifact, { path: 'notes/HANDOFF.md', content: '# handoff\n' })
  assert.match(body.diff, /diff --git a\/README.md b\/README.md[\s\S]*\+changed/)
  assert.match(body.diff, /diff --git a\/notes\/HANDOFF.md b\/notes\/HANDOFF.md\nnew file mode[\s\S]*\+# handoff/)
  assert.not.match(body.diff, /build\/out\.o/)
  const events = body.runnerReceipts.map((r: { type: string }) => r.type)
  assert.equal(events, ['runner.container.start', 'runner.container.ready_attempt', 'runner.container.ready', 'runner.response'])
  assert.is(body.runnerReceipts[3].status, 200)
  assert.ok(body.runnerReceipts[2].elapsedMs <= body.runnerReceipts[3].elapsedMs)
  assert.is(body.capsuleId, undefined)
  // the capsule goes right after the answer (which does not wait for its teardown)
  const runCapsule = async () => ((await (await nb.api('/v1/capsules')).json()) as Array<{ status: string; metadata?: Record<string, string> }>).find((c) => c.metadata?.run === body.runId && c.status !== 'stopped')
  for (const t0 = Date.now(); await runCapsule(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() - t0 > 10_000) assert.unreachable('the run\'s capsule is still there 10 s after the answer')
})

test('a failing verify step: 422 with every receipt (later steps still run), ok false; a missing artifact is null', async () => {
  const { status, body } = await run({ repo: repo.path, commands: ['exit 4', 'echo still-runs'], verify: ['exit 3', 'echo verify-2'], artifact: 'nope.txt' })
  assert.is(status, 422)
  assert.is(body.ok, false)
  assert.equal(body.receipts.map((r: { type: string; code: number }) => [r.type, r.code]), [['clone', 0], ['command', 4], ['command', 0], ['verify', 3], ['verify', 0], ['diff', 0]])
  assert.is(body.receipts[2].stdout, 'still-runs\n')
  assert.is(body.artifact, null)
  assert.is(body.diff, '')
  assert.type(body.error, 'string')
  assert.is(body.runnerReceipts.at(-1).status, 422)
})

test('ref (branch, commit id), blobless and sparse clones', async () => {
  const branch = await run({ repo: repo.path, ref: 'feature', verify: ['test -f FEATURE.md'] })
  assert.is(branch.status, 200, JSON.stringify(branch.body.receipts))
  const byId = await run({ repo: `file://${repo.path}`, ref: repo.commits.main, clone: 'blobless', verify: ['test ! -e FEATURE.md && git cat-file -p HEAD | grep -q "main commit"'] })
  assert.is(byId.status, 200, JSON.stringify(byId.body))
  const sparse = await run({ repo: repo.path, sparse: ['docs/'], verify: ['test -f docs/guide.md && test ! -e src/app.txt'] })
  assert.is(sparse.status, 200, JSON.stringify(sparse.body.receipts))
  const missing = await run({ repo: repo.path, ref: 'no-such-branch', commands: ['true'] })
  assert.is(missing.status, 422)
  assert.equal(missing.body.receipts.map((r: { type: string }) => r.type), ['clone'])
  assert.match(missing.body.error, /clone failed/)
})

test('a step past timeoutMs is killed and its receipt says so', async () => {
  const t0 = Date.now()
  const { status, body } = await run({ repo: repo.path, commands: ['sleep 30'], verify: ['true'], timeoutMs: 1500 })
  assert.ok(Date.now() - t0 < 20_000)
  assert.is(status, 422)
  const r = body.receipts[1]
  assert.is(r.type, 'command')
  assert.is(r.signal, 'SIGKILL')
  assert.is(r.timedOut, true)
  assert.match(r.stderr, /killed after timeoutMs 1500 ms/)
  const took = Date.parse(r.finishedAt) - Date.parse(r.startedAt)
  assert.ok(took >= 1400 && took < 10_000, `took ${took} ms`)
  assert.is(body.receipts[2].code, 0)
})

test('output keeps its last 64,000 characters with credential-looking tokens redacted', async () => {
  const secret = 'ghp_' + 'A1b2C3d4'.repeat(5)
  const { status, body } = await run({ repo: repo.path, commands: [`echo "token ${secret} and https://bob:hunter22@git.example/x and API_KEY=supersecret123"`, 'head -c 100000 /dev/zero | tr "\\0" a; echo END'] })
  assert.is(status, 200)
  const out = body.receipts[1].stdout
  assert.not.match(out, secret)
  assert.not.match(out, 'hunter22')
  assert.not.match(out, 'supersecret123')
  assert.match(out, /\[redacted\]/)
  assert.is(body.receipts[2].stdout.length, 64_000)
  assert.ok(body.receipts[2].stdout.endsWith('aaaaEND\n'))
})

test('bad input is a 400 {error, detail}; repositories outside the roots and hosts off the allow-list are refused', async () => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ commands: ['true'] }, /repo is required/],
    [{ repo: '/etc', commands: ['true'] }, /not a repository under the configured local roots/],
    [{ repo: join(root, '..', 'x'), commands: ['true'] }, /local roots/],
    [{ repo: `${root}/../../etc`, commands: ['true'] }, /local roots/],
    [{ repo: 'https://example.com/a/b.git', commands: ['true'] }, /host example.com is not allowed/],
    [{ repo: 'https://user:pw@github.com/a/b.git', commands: ['true'] }, /credentials/],
    [{ repo: 'relative/path', commands: ['true'] }, /https:\/\/ URL or an absolute local path/],
    [{ repo: repo.path }, /at least one command or verify/],
    [{ repo: repo.path, commands: Array(13).fill('true') }, /at most 12/],
    [{ repo: repo.path, commands: ['x'.repeat(1001)] }, /at most 1000 characters/],
    [{ repo: repo.path, commands: ['true'], ref: '--upload-pack=evil' }, /ref must be/],
    [{ repo: repo.path, commands: ['true'], ref: 'a b' }, /ref must be/],
    [{ repo: repo.path, commands: ['true'], clone: 'full' }, /clone must be/],
    [{ repo: repo.path, commands: ['true'], sparse: Array(65).fill('a') }, /at most 64/],
    [{ repo: repo.path, commands: ['true'], artifact: '../etc/passwd' }, /artifact must be a relative path/],
    [{ repo: repo.path, commands: ['true'], artifact: '/etc/passwd' }, /artifact must be a relative path/],
    [{ repo: repo.path, commands: ['true'], timeoutMs: 120_001 }, /timeoutMs/],
    [{ repo: repo.path, commands: ['true'], async: 'yes' }, /async must be a boolean/],
  ]
  for (const [body, detail] of bad) {
    const r = await run(body)
    assert.is(r.status, 400, JSON.stringify(body).slice(0, 100))
    assert.type(r.body.error, 'string')
    assert.match(r.body.detail, detail)
  }
  const notJson = await nb.api('/api/runs', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } })
  assert.is(notJson.status, 400)
  assert.is((await notJson.json()).error, 'invalid_json')
  // nothing was stored for refused requests
  const recent = (await (await nb.api('/api/runs/recent')).json()).runs
  assert.not.ok(recent.some((r: { repo: string }) => r.repo === '/etc'))
})

test('a local run sees its own repository only, read-only (not the other repositories of its root)', async () => {
  makeRepo(root, 'neighbour', { main: { 'SECRET.md': 'other team\n' } })
  const { status, body } = await run({ repo: repo.path, commands: ['ls /mnt/nestbox-repo; ! ls /mnt/nestbox-repo/../neighbour.git 2>/dev/null', '! touch /mnt/nestbox-repo/x 2>/dev/null'] })
  assert.is(status, 200, JSON.stringify(body.receipts))
  assert.match(body.receipts[1].stdout, /HEAD/)
  assert.not.match(body.receipts[1].stdout, /neighbour/)
})

test('an artifact that is a symlink out of the repository is not read', async () => {
  const { status, body } = await run({ repo: repo.path, commands: ['ln -s /etc/hostname leak.txt'], artifact: 'leak.txt' })
  assert.is(status, 200)
  assert.is(body.artifact, null)
})

test('two runs at once both succeed, each in its own capsule', async () => {
  const [a, b] = await Promise.all([run({ repo: repo.path, commands: ['echo a > A.txt'], verify: ['test ! -e B.txt'] }), run({ repo: repo.path, commands: ['echo b > B.txt'], verify: ['test ! -e A.txt'] })])
  assert.is(a.status, 200)
  assert.is(b.status, 200)
  assert.is.not(a.body.runId, b.body.runId)
  assert.match(a.body.diff, /A\.txt/)
  assert.not.match(a.body.diff, /B\.txt/)
})

test('async: 202 with the runId at once; the events stream shows each receipt, then the result; GET /api/runs/:runId and /recent', async () => {
  const r = await run({ repo: repo.path, commands: ['sleep 1; echo one', 'echo two'], verify: ['true'], async: true })
  assert.is(r.status, 202)
  const runId = r.body.runId
  assert.match(runId, /^run_/)
  const events = await readSse(await nb.api(`/api/runs/${runId}/events`))
  const steps = events.filter((e) => e.event === 'receipt').map((e) => e.data.type)
  assert.equal(steps, ['clone', 'command', 'command', 'verify', 'diff'])
  assert.ok(events.some((e) => e.event === 'runner' && e.data.type === 'runner.container.ready'))
  const result = events.at(-1)!
  assert.is(result.event, 'result')
  assert.is(result.data.ok, true)
  const got = await (await nb.api(`/api/runs/${runId}`)).json()
  assert.is(got.runId, runId)
  assert.is(got.ok, true)
  assert.is(got.status, 'passed')
  assert.is(got.receipts[1].stdout, 'one\n')
  // a finished run's events are replayed from the store
  const again = await readSse(await nb.api(`/api/runs/${runId}/events`))
  assert.equal(again.filter((e) => e.event === 'receipt').map((e) => e.data.type), steps)
  const recent = (await (await nb.api('/api/runs/recent')).json()).runs
  assert.is(recent[0].id, runId)
  assert.equal(Object.keys(recent[0]).sort(), ['artifact', 'createdAt', 'id', 'repo', 'status'])
  assert.ok(recent.length <= 20)
  const missing = await nb.api('/api/runs/run_nope')
  assert.is(missing.status, 404)
  assert.equal(await missing.json(), { error: 'run_not_found', detail: 'run run_nope not found' })
})

test('auth: the cloudbox token (Bearer or x-cloudbox-token) acts for its team; other teams see nothing; viewers cannot run; keep returns the capsule', async () => {
  const none = await fetch(nb.url + '/api/runs/recent')
  assert.is(none.status, 401)
  assert.is((await none.json()).error, 'unauthorized')
  assert.is((await fetch(nb.url + '/api/runs/recent', { headers: { authorization: 'Bearer wrong-token-000000' } })).status, 401)
  const viaBearer = await fetch(nb.url + '/api/runs', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ repo: repo.path, commands: ['true'], keep: true }) })
  assert.is(viaBearer.status, 200)
  const kept = await viaBearer.json()
  assert.match(kept.capsuleId, /^sb-/)
  const cap = await (await nb.api(`/v1/capsules/${kept.capsuleId}`)).json()
  assert.is(cap.status, 'running')
  await nb.api(`/v1/capsules/${kept.capsuleId}`, { method: 'DELETE' })
  const viaHeader = await fetch(nb.url + `/api/runs/${kept.runId}`, { headers: { 'x-cloudbox-token': token } })
  assert.is((await viaHeader.json()).runId, kept.runId)

  const other = await addMember(nb, 'owner')
  const theirs = await fetch(nb.url + `/api/runs/${kept.runId}`, { headers: { 'x-api-key': other.key } })
  assert.is(theirs.status, 404)
  assert.is((await fetch(nb.url + `/api/runs/${kept.runId}/events`, { headers: { 'x-api-key': other.key } })).status, 404)
  const theirRecent = await (await fetch(nb.url + '/api/runs/recent', { headers: { 'x-api-key': other.key } })).json()
  assert.equal(theirRecent, { runs: [] })
  const viewer = await addMember(nb, 'viewer', nb.bootstrap.team_id)
  const denied = await fetch(nb.url + '/api/runs', { method: 'POST', headers: { 'x-api-key': viewer.key, 'content-type': 'application/json' }, body: JSON.stringify({ repo: repo.path, commands: ['true'] }) })
  assert.is(denied.status, 403)
  assert.is((await (await fetch(nb.url + `/api/runs/${kept.runId}`, { headers: { 'x-api-key': viewer.key } })).json()).runId, kept.runId)
})

test('a run cut by a restart is stored as interrupted; finished runs survive the restart', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-runs-restart-'))
  let box = await startTestNestbox({ dataDir, set: { 'cloudbox.localRoots': root } })
  try {
    const call = (path: string, json?: unknown) => box.api(path, json ? { method: 'POST', json } : {})
    const done = await (await call('/api/runs', { repo: repo.path, commands: ['echo kept'] })).json()
    const cut = await (await call('/api/runs', { repo: repo.path, commands: ['sleep 60'], async: true })).json()
    // wait until its command is running
    const res = await call(`/api/runs/${cut.runId}/events`)
    const reader = res.body!.getReader()
    let seen = ''
    while (!seen.includes('"type":"clone"')) seen += new TextDecoder().decode((await reader.read()).value)
    await reader.cancel()
    await box.close()
    box = await startTestNestbox({ dataDir, set: { 'cloudbox.localRoots': root } })
    const after = await (await call(`/api/runs/${cut.runId}`)).json()
    assert.is(after.status, 'error')
    assert.is(after.ok, false)
    assert.match(after.error, /interrupted/)
    const kept = await (await call(`/api/runs/${done.runId}`)).json()
    assert.is(kept.receipts[1].stdout, 'kept\n')
    assert.equal((await (await call('/api/runs/recent')).json()).runs.map((r: { id: string }) => r.id), [cut.runId, done.runId])
  } finally {
    await box.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

/** The team's spare capsules (held in reserve, so only nestbox itself lists them). */
const sparesOf = async (box: TestNestbox, teamId: string) =>
  (await box.services.capsules.admin.list(system)).filter((c) => c.team_id === teamId && c.status !== 'stopped' && reservedBy(c) === 'runs')

test("spares: the team's next run starts in a capsule booted after its last one, which the team does not see until then; the repository is bound in at the claim, alone and read-only", async () => {
  assert.is((await run({ repo: repo.path, commands: ['true'] })).status, 200)
  const spare = (await until(async () => (await sparesOf(nb, nb.bootstrap.team_id)).find((c) => c.status === 'running'), 20_000, 'a running spare'))!
  assert.is(spare.network, 'nestbox')
  const listed = async () => ((await (await nb.api('/v1/capsules')).json()) as Array<{ id: string }>).map((c) => c.id)
  assert.not.ok((await listed()).includes(spare.id))
  assert.is((await nb.api(`/v1/capsules/${spare.id}`)).status, 404)
  assert.is((await nb.api(`/v1/capsules/${spare.id}/exec`, { method: 'POST', json: { cmd: 'true' } })).status, 404)

  makeRepo(root, 'neighbour2', { main: { 'SECRET.md': 'other\n' } })
  const { status, body } = await run({ repo: repo.path, keep: true, commands: ['ls /mnt/nestbox-repo; ! ls /mnt/nestbox-repo/../neighbour2.git 2>/dev/null', '! touch /mnt/nestbox-repo/x 2>/dev/null', 'cat README.md'] })
  assert.is(status, 200, JSON.stringify(body.receipts))
  assert.is(body.runnerReceipts[0].type, 'runner.container.start')
  assert.is(body.runnerReceipts[0].alreadyRunning, true)
  assert.is(body.capsuleId, spare.id)
  assert.match(body.receipts[1].stdout, /HEAD/)
  assert.not.match(body.receipts[1].stdout, /neighbour2/)
  assert.is(body.receipts[3].stdout, 'hello\n')
  // claimed: the team sees it now, as the run's capsule
  const cap = await (await nb.api(`/v1/capsules/${spare.id}`)).json()
  assert.equal(cap.metadata, { run: body.runId })
  assert.ok((await listed()).includes(spare.id))
  await nb.api(`/v1/capsules/${spare.id}`, { method: 'DELETE' })

  // another team's first run does not get this team's spare
  const other = await addMember(nb, 'owner')
  const theirs = await fetch(nb.url + '/api/runs', { method: 'POST', headers: { 'x-api-key': other.key, 'content-type': 'application/json' }, body: JSON.stringify({ repo: repo.path, commands: ['true'] }) })
  assert.is(theirs.status, 200)
  assert.is((await theirs.json()).runnerReceipts[0].alreadyRunning, false)
})

test('spares: an unclaimed one is destroyed after spareIdleSec; spareCapsules 0 boots none; one a stopped process left is destroyed at start', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-runs-spares-'))
  let box = await startTestNestbox({ dataDir, set: { 'cloudbox.localRoots': root, 'cloudbox.spareIdleSec': 1 } })
  const team = box.bootstrap.team_id
  try {
    assert.is((await box.api('/api/runs', { method: 'POST', json: { repo: repo.path, commands: ['true'] } })).status, 200)
    await until(async () => (await sparesOf(box, team)).length === 1, 20_000, 'a spare')
    await until(async () => (await sparesOf(box, team)).length === 0, 20_000, 'the idle spare gone')

    // a reserved capsule no pool knows (as a process that died would leave it) does not outlive a restart
    const left = await box.services.capsules.admin.create(system, { team_id: team, network: 'nestbox' }, { reserve: 'runs' })
    await until(async () => (await box.services.capsules.admin.get(system, left.id)).status === 'running', 20_000, 'the left spare running')
    await box.close()
    box = await startTestNestbox({ dataDir, set: { 'cloudbox.localRoots': root, 'cloudbox.spareCapsules': 0 } })
    assert.equal(await sparesOf(box, team), [])

    for (let i = 0; i < 2; i++) {
      const r = await (await box.api('/api/runs', { method: 'POST', json: { repo: repo.path, commands: ['true'] } })).json()
      assert.is(r.runnerReceipts[0].alreadyRunning, false)
    }
    await new Promise((r) => setTimeout(r, 500))
    assert.equal(await sparesOf(box, team), [])
  } finally {
    await box.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test('/api/health names cloudbox', async () => {
  const h = await (await fetch(nb.url + '/api/health')).json()
  assert.is(h.ok, true)
  assert.is(h.name, 'cloudbox')
})

test.run()
