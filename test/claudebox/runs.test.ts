/** claudebox runs: the real Claude Code CLI in a workspace capsule, through nestbox's gateway, against a scripted upstream. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { addMember } from '../capsules/fixtures.ts'
import { allUserText, lastUser } from './fake-upstream.ts'
import { cbx, MASTER, startBox, until, UPSTREAM_SECRET, type Box } from './helpers.ts'

let b: Box
test.before(async () => {
  b = await startBox()
})
test.after(async () => {
  await b?.close()
})

test('health needs no auth; everything else needs the token or an API key', async () => {
  assert.equal(await (await cbx(b, '/health', { bearer: null })).json(), { status: 'ok' })
  assert.is((await cbx(b, '/status', { bearer: null })).status, 401)
  const bad = await cbx(b, '/status', { bearer: 'not-the-token' })
  assert.is(bad.status, 401)
  assert.ok((await bad.json()).error)
  assert.equal(await (await cbx(b, '/status')).json(), { busyWorkspaces: [], runs: [] })
  assert.is((await cbx(b, '/status', { bearer: b.nb.apiKey })).status, 200)
  assert.is((await cbx(b, '/run', { method: 'POST', json: { workspace: 'x' } })).status, 400, 'missing prompt')
  assert.is((await cbx(b, '/run', { method: 'POST', json: { prompt: 'hi', workspace: '../etc' } })).status, 400)
})

test('a run writes a file with a tool call; json-verbose shows the turns; spend lands under the team', async () => {
  const r = await cbx(b, '/run', { method: 'POST', json: { prompt: 'please WRITE /workspace/hello.txt hi there', workspace: 'proj', outputFormat: 'json-verbose' } })
  const body = await r.json()
  assert.is(r.status, 200, JSON.stringify(body))
  assert.is(body.type, 'result')
  assert.is(body.isError, false)
  assert.is(body.workspace, 'proj')
  assert.match(body.runId, /^[0-9a-f]{16}$/)
  assert.match(body.result, /^done: \[tool_result File created successfully/)
  assert.ok(body.sessionId)
  assert.ok(body.usage.inputTokens > 0)
  const use = body.turns.flatMap((t: { content: unknown[] }) => t.content).find((c: { type: string }) => c.type === 'tool_use')
  assert.equal([use.name, use.input], ['Write', { file_path: '/workspace/hello.txt', content: 'hi there' }])
  const res = body.turns.find((t: { role: string }) => t.role === 'tool_result').content[0]
  assert.is(res.toolUseId, use.id)
  assert.is(res.isError, false)
  assert.is(body.system.cwd, '/workspace')
  assert.is(await (await cbx(b, '/files/proj/hello.txt')).text(), 'hi there')
  // every upstream call went through the gateway with its key, never the capsule's
  assert.ok(b.up.requests.length >= 2)
  await b.nb.services.gateway.flushSpend()
  const logs = await (await fetch(`${b.nb.url}/spend/logs?team_id=${b.nb.bootstrap.team_id}`, { headers: { authorization: `Bearer ${MASTER}` } })).json()
  assert.ok(logs.length >= 2)
  assert.ok(logs.every((l: { capsule_id: string; prompt_tokens: number }) => l.capsule_id?.startsWith('sb-') && l.prompt_tokens > 0))
  const env = await b.nb.services.capsules.admin.processes.exec({ kind: 'system' }, logs[0].capsule_id, { cmd: 'env; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n"', timeoutSec: 10, background: false, tag: null })
  assert.not.ok(env.stdout.toString().includes(UPSTREAM_SECRET), 'the real key never enters the capsule')
  // the run's gateway key ended with it
  await until(async () => !(await b.nb.services.db.selectFrom('gateway_keys').select('id').where('capsule_id', '=', logs[0].capsule_id).executeTakeFirst()), 10_000, 'the run key to be revoked')
})

test('runs continue the workspace session by default (the upstream sees the earlier messages); noContinue starts fresh', async () => {
  await cbx(b, '/run', { method: 'POST', json: { prompt: 'remember the word pelican', workspace: 'chat' } })
  const r = await (await cbx(b, '/run', { method: 'POST', json: { prompt: 'which word?', workspace: 'chat' } })).json()
  assert.is(r.result, 'echo: which word?')
  const last = b.up.requests.at(-1)!
  assert.is(lastUser(last).includes('which word?'), true)
  assert.ok(allUserText(last).includes('pelican'), 'the continued session carried the first prompt')
  await cbx(b, '/run', { method: 'POST', json: { prompt: 'fresh start', workspace: 'chat', noContinue: true } })
  assert.not.ok(allUserText(b.up.requests.at(-1)!).includes('pelican'))
  // resume the first session by id
  const first = await (await cbx(b, '/run', { method: 'POST', json: { prompt: 'again', workspace: 'chat', resume: r.sessionId } })).json()
  assert.is(first.sessionId !== undefined, true)
  assert.ok(allUserText(b.up.requests.at(-1)!).includes('pelican'))
})

test('async runs: runId, running, the result once, then 404; 409 while busy; cancel kills the run', async () => {
  b.up.delayMs = 20_000
  const n0 = b.up.requests.length
  const a = await (await cbx(b, '/run', { method: 'POST', json: { prompt: 'slow one', workspace: 'slow', async: true } })).json()
  assert.equal(Object.keys(a).sort(), ['runId', 'status', 'workspace'])
  assert.is(a.status, 'running')
  await until(() => b.up.requests.length > n0, 30_000, 'the CLI to call the upstream')
  assert.equal(await (await cbx(b, `/run/result?runId=${a.runId}`)).json(), { runId: a.runId, workspace: 'slow', status: 'running' })
  const busy = await cbx(b, '/run', { method: 'POST', json: { prompt: 'second', workspace: 'slow' } })
  assert.is(busy.status, 409)
  assert.is((await busy.json()).error, 'workspace busy, retry later')
  const st = await (await cbx(b, '/status')).json()
  assert.equal(st.busyWorkspaces, ['slow'])
  assert.ok(st.runs.some((x: { runId: string; status: string }) => x.runId === a.runId && x.status === 'running'))
  const t0 = Date.now()
  const c = await cbx(b, '/run/cancel?workspace=slow', { method: 'POST' })
  assert.equal(await c.json(), { status: 'ok', runId: a.runId, workspace: 'slow' })
  let cancelled: Record<string, unknown> = { status: 'running' }
  await until(async () => (cancelled = await (await cbx(b, `/run/result?runId=${a.runId}`)).json()).status !== 'running', 10_000, 'the cancel')
  assert.equal(cancelled, { runId: a.runId, workspace: 'slow', status: 'cancelled' })
  assert.ok(Date.now() - t0 < 10_000)
  b.up.delayMs = 0
  const procs = await b.nb.services.capsules.admin.processes.list({ kind: 'system' }, (await b.nb.services.capsules.admin.list({ kind: 'system' })).find((x) => JSON.parse(x.metadata).workspace === 'slow')!.id)
  assert.is(procs.length, 0, 'no process of the run is left')
  assert.is((await cbx(b, '/run/cancel?runId=ffffffffffffffff', { method: 'POST' })).status, 404)
  assert.is((await cbx(b, '/run/result?runId=ffffffffffffffff')).status, 404)

  const ok = await (await cbx(b, '/run', { method: 'POST', json: { prompt: 'quick', workspace: 'slow', async: true, noContinue: true } })).json()
  let res: Record<string, unknown> = { status: 'running' }
  await until(async () => (res = await (await cbx(b, `/run/result?runId=${ok.runId}`)).json()).status !== 'running', 30_000, 'the async result')
  assert.is(res.result, 'echo: quick')
  assert.is(res.workspace, 'slow')
  assert.is(res.runId, ok.runId)
  assert.is((await cbx(b, `/run/result?runId=${ok.runId}`)).status, 404, 'a result is read once')

  // cancel by runId
  b.up.delayMs = 20_000
  const n1 = b.up.requests.length
  const c2 = await (await cbx(b, '/run', { method: 'POST', json: { prompt: 'slow two', workspace: 'slow', async: true } })).json()
  await until(() => b.up.requests.length > n1, 30_000, 'the second slow run')
  assert.equal(await (await cbx(b, `/run/cancel?runId=${c2.runId}`, { method: 'POST' })).json(), { status: 'ok', runId: c2.runId, workspace: 'slow' })
  let last: Record<string, unknown> = { status: 'running' }
  await until(async () => (last = await (await cbx(b, `/run/result?runId=${c2.runId}`)).json()).status !== 'running', 10_000, 'the cancel by runId')
  assert.is(last.status, 'cancelled')
  b.up.delayMs = 0
})

test('runs in different workspaces go on at the same time', async () => {
  b.up.delayMs = 4_000
  b.up.maxInFlight = 0
  const [x, y] = await Promise.all(['par-a', 'par-b'].map((ws) => cbx(b, '/run', { method: 'POST', json: { prompt: `in ${ws}`, workspace: ws } }).then((r) => r.json())))
  b.up.delayMs = 0
  assert.equal([x.result, y.result], ['echo: in par-a', 'echo: in par-b'])
  assert.ok(b.up.maxInFlight >= 2, 'both CLIs were waiting on the upstream at once')
})

test("another team's key sees none of this team's workspaces or runs; viewers cannot run", async () => {
  const other = await addMember(b.nb, 'owner')
  const viewer = await addMember(b.nb, 'viewer', b.nb.bootstrap.team_id)
  assert.equal(await (await cbx(b, '/files', { bearer: other.key })).json(), { path: '', entries: [] })
  assert.is((await cbx(b, '/files/proj/hello.txt', { bearer: other.key })).status, 404)
  const mine = await (await cbx(b, '/files')).json()
  assert.ok(mine.entries.some((e: { name: string }) => e.name === 'proj'))
  assert.is((await cbx(b, '/run', { method: 'POST', json: { prompt: 'x', workspace: 'proj' }, bearer: viewer.key })).status, 403)
  assert.is((await cbx(b, '/files/proj/hello.txt', { bearer: viewer.key })).status, 200)
  // the other team's workspace "proj" is a capsule of its own
  const theirs = await (await cbx(b, '/run', { method: 'POST', json: { prompt: 'hello from them', workspace: 'proj' }, bearer: other.key })).json()
  assert.is(theirs.result, 'echo: hello from them')
  assert.is((await cbx(b, '/files/proj/hello.txt', { bearer: other.key })).status, 404)
})

test.run()
