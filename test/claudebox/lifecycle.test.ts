/** Workspace lifecycle: idle pause and resume, history and files across a nestbox restart, a disconnecting client, options reaching the CLI. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { system } from '../../lib/core/principal.ts'
import { allUserText, startFakeClaudeUpstream, type FakeClaudeUpstream } from './fake-upstream.ts'
import { cbx, startBox, until, type Box } from './helpers.ts'

let up: FakeClaudeUpstream
let b: Box
const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-claudebox-'))
test.before(async () => {
  up = await startFakeClaudeUpstream()
  b = await startBox({ 'claudebox.idleSec': 10 }, { dataDir, up })
})
test.after(async () => {
  await b?.close()
  await up?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

const capsuleOf = async (box: Box, ws: string) => (await box.nb.services.capsules.admin.list(system)).find((c) => c.status !== 'stopped' && JSON.parse(c.metadata).workspace === ws)!

test('an idle workspace is paused; the next run resumes it and continues its session', async () => {
  const first = await cbx(b, '/run', { method: 'POST', json: { prompt: 'remember the word walrus; WRITE /workspace/w.txt walrus file', workspace: 'persist' } })
  assert.is(first.status, 200)
  await until(async () => (await capsuleOf(b, 'persist')).status === 'paused', 40_000, 'the idle pause')
  const r = await (await cbx(b, '/run', { method: 'POST', json: { prompt: 'which word?', workspace: 'persist' } })).json()
  assert.is(r.result, 'echo: which word?')
  assert.ok(allUserText(up.requests.at(-1)!).includes('walrus'))
  assert.is((await capsuleOf(b, 'persist')).status, 'running')
})

test('files and conversation history outlast a nestbox restart', async () => {
  const token = b.token
  await b.close()
  b = await startBox({ 'claudebox.idleSec': 10 }, { dataDir, up })
  assert.is(b.token, token, 'bootstrap.txt keeps the first token; the database keeps its hash')
  assert.is(await (await cbx(b, '/files/persist/w.txt')).text(), 'walrus file')
  const r = await (await cbx(b, '/run', { method: 'POST', json: { prompt: 'still there?', workspace: 'persist' } })).json()
  assert.is(r.result, 'echo: still there?')
  assert.ok(allUserText(up.requests.at(-1)!).includes('walrus'), 'the session continued after the restart')
})

test('a synchronous client that disconnects kills its run; fireAndForget keeps it', async () => {
  up.delayMs = 3_000
  const n0 = up.requests.length
  const ac = new AbortController()
  const pending = cbx(b, '/run', { method: 'POST', json: { prompt: 'long task', workspace: 'gone' }, signal: ac.signal }).catch(() => null)
  await until(() => up.requests.length > n0, 30_000, 'the CLI to call the upstream')
  ac.abort()
  await pending
  await until(async () => !(await (await cbx(b, '/status')).json()).busyWorkspaces.includes('gone'), 10_000, 'the run to be killed')
  assert.is((await b.nb.services.capsules.admin.processes.list(system, (await capsuleOf(b, 'gone')).id)).length, 0)

  const n1 = up.requests.length
  const ac2 = new AbortController()
  const kept = cbx(b, '/run', { method: 'POST', json: { prompt: 'keep going', workspace: 'kept', fireAndForget: true }, signal: ac2.signal }).catch(() => null)
  await until(() => up.requests.length > n1, 30_000, 'the second run to call the upstream')
  ac2.abort()
  await kept
  assert.ok((await (await cbx(b, '/status')).json()).busyWorkspaces.includes('kept'), 'still running after the client left')
  up.delayMs = 0
  await until(async () => !(await (await cbx(b, '/status')).json()).busyWorkspaces.includes('kept'), 30_000, 'the kept run to finish')
})

test('model aliases, effort and a JSON schema reach the CLI; bad values are 400', async () => {
  const r = await cbx(b, '/run', { method: 'POST', json: { prompt: 'big think', workspace: 'opts', model: 'opus', effort: 'high', noContinue: true } })
  assert.is(r.status, 200, await r.clone().text())
  assert.is(up.requests.at(-1)!.model, 'claude-opus-4-1')
  const full = await cbx(b, '/run', { method: 'POST', json: { prompt: 'by full name', workspace: 'opts', model: 'claude-haiku-4-5', systemPrompt: 'SYSTEM-X', noContinue: true } })
  assert.is(full.status, 200)
  assert.is(up.requests.at(-1)!.model, 'claude-haiku-4-5')
  assert.ok(JSON.stringify(up.requests.at(-1)!.system).includes('SYSTEM-X'), JSON.stringify(up.requests.slice(-3).map((q) => [q.model, JSON.stringify(q.system).slice(0, 300)])))
  for (const bad of [{ effort: 'huge' }, { jsonSchema: '{not json' }, { outputFormat: 'xml' }, { async: true, stream: true }, { prompt: '' }])
    assert.is((await cbx(b, '/run', { method: 'POST', json: { prompt: 'x', ...bad } })).status, 400, JSON.stringify(bad))
})

test.run()
