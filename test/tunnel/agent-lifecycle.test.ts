/**
 * A local agent's life as a real `nestbox agent connect` process: it starts
 * opencode (a stand-in that checks its command line) and reports agent_info,
 * reconnects with backoff when the server restarts, reconnects from its saved
 * credentials, is replaced by a newer connection, and stops for good when its
 * sandbox is deleted.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { freePort } from '../bench/lib/measure.ts'
import { agentCode, fakeOpencode, spawnAgent, stopAgents } from './agent-helpers.ts'
import { sandboxFront } from './agent-front.ts'

const dir = mkdtempSync(join(tmpdir(), 'nestbox-agent-life-'))
const dataDir = join(dir, 'data')
const registry = join(dir, 'agents.json')
const workdir = mkdtempSync(join(tmpdir(), 'nestbox-agent-work-'))
let nb: TestNestbox
let port: number
test.before(async () => {
  port = await freePort()
  nb = await startTestNestbox({ dataDir, set: { baseDomain: 'box.test', 'listen.port': port } })
})
test.after(async () => {
  await stopAgents()
  await nb.close()
  rmSync(dir, { recursive: true, force: true })
  rmSync(workdir, { recursive: true, force: true })
})

const portOpen = (p: number) =>
  new Promise<boolean>((r) => {
    const s = connect(p, '127.0.0.1')
    s.once('connect', () => (s.destroy(), r(true)))
    s.once('error', () => r(false))
  })
const sandbox = async (id: string) => (await nb.api(`/api/sandboxes/${id}`)).json()

async function until(cond: () => Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition never held')
    await new Promise((r) => setTimeout(r, 25))
  }
}

let sandboxId: string
let opencodePort: number

test('--auto-start runs `opencode serve` on 127.0.0.1 in the workdir, behind a password the agent sends; agent_info reaches the sandbox; SIGTERM stops both', async () => {
  const wid = (await (await nb.api('/api/workspaces')).json())[0].id
  opencodePort = await freePort()
  const bin = fakeOpencode(dir)
  const agent = spawnAgent(['connect', '--server', nb.url, '--code', await agentCode(nb, wid), '--opencode-port', String(opencodePort), '--auto-start', '--opencode-bin', bin, '--workdir', workdir, '--registry', registry])
  sandboxId = /registered local agent (\S+)/.exec(await agent.waitFor(/registered local agent/))![1]
  await agent.waitFor(/tunnel connected/)
  const front = await sandboxFront(nb, sandboxId)
  const health = await (await front.fetch('/global/health')).json()
  assert.equal(health, { healthy: true, version: '0.0.0-fake', cwd: workdir })
  // its port on this machine asks for the password only the agent knows
  assert.is((await fetch(`http://127.0.0.1:${opencodePort}/global/health`)).status, 401)
  await until(async () => (await sandbox(sandboxId)).agent_info?.opencode_version === '0.0.0-fake')
  const info = (await sandbox(sandboxId)).agent_info
  for (const k of ['hostname', 'os', 'platform', 'cpu_count_logical', 'memory_total', 'disk_total', 'disk_free', 'agent_version', 'opencode_version', 'workdir']) assert.ok(info[k] !== undefined && info[k] !== null, k)
  assert.is(info.workdir, workdir)
  assert.ok(info.disk_free > 0 && info.disk_free <= info.disk_total)
  assert.is((await sandbox(sandboxId)).status, 'running')

  agent.child.kill('SIGTERM')
  assert.is(await agent.exitCode(), 0)
  assert.not.ok(await portOpen(opencodePort), 'opencode stopped with the agent')
  await until(async () => (await sandbox(sandboxId)).status === 'offline')
})

test('reconnects from the saved credentials, and with backoff across a server restart', async () => {
  const bin = fakeOpencode(dir)
  const agent = spawnAgent(['connect', '--server', nb.url, '--auto-start', '--opencode-bin', bin, '--workdir', workdir, '--registry', registry])
  await agent.waitFor(/tunnel connected/)
  const mark = agent.lines.length
  await nb.close()
  await agent.waitFor(/tunnel reconnecting/, { from: mark })
  nb = await startTestNestbox({ dataDir, set: { baseDomain: 'box.test', 'listen.port': port } })
  await agent.waitFor(/tunnel connected/, { from: mark })
  const front = await sandboxFront(nb, sandboxId)
  assert.is((await front.fetch('/global/health')).status, 200)
  await until(async () => (await sandbox(sandboxId)).status === 'running')

  // another connection with the same credentials takes over; the first agent stops for good
  const second = spawnAgent(['connect', '--server', nb.url, '--opencode-port', String(opencodePort), '--registry', registry])
  await second.waitFor(/tunnel connected/)
  assert.is(await agent.exitCode(), 1)
  assert.match(agent.lines.join('\n'), /another connection with these credentials took over/)

  // the sandbox deleted on the server: the agent stops and forgets it
  assert.is((await nb.api(`/api/sandboxes/${sandboxId}`, { method: 'DELETE' })).status, 204)
  assert.is(await second.exitCode(), 1)
  assert.match(second.lines.join('\n'), /removed on the server/)
  assert.equal(JSON.parse(readFileSync(registry, 'utf8')).agents, [])
})

test('connect without a code and nothing saved: a clear usage error; a spent code: the server\'s message', async () => {
  const none = spawnAgent(['connect', '--server', nb.url, '--registry', join(dir, 'empty.json')])
  assert.is(await none.exitCode(), 2)
  assert.match(none.lines.join('\n'), /no agent saved for .*pass --code/)
  const bad = spawnAgent(['connect', '--server', nb.url, '--code', 'f'.repeat(24), '--registry', join(dir, 'empty.json')])
  assert.is(await bad.exitCode(), 1)
  assert.match(bad.lines.join('\n'), /registration failed \(401\): invalid or expired code/)
})

test('list and remove (by a unique id prefix) work on the registry file', async () => {
  const file = join(dir, 'two.json')
  const entry = (id: string) => ({ sandbox_id: id, workspace_id: 'w', tunnel_token: 't', server: 'http://127.0.0.1:1', name: `n-${id}`, opencode_port: 4096, created_at: new Date().toISOString() })
  writeFileSync(file, JSON.stringify({ agents: [entry('abc-1'), entry('abd-2')] }), { mode: 0o600 })
  const list = spawnAgent(['list', '--registry', file])
  assert.is(await list.exitCode(), 0)
  assert.is(list.lines.length, 2)
  const ambiguous = spawnAgent(['remove', 'ab', '--registry', file])
  assert.is(await ambiguous.exitCode(), 1)
  const rm = spawnAgent(['remove', 'abd', '--registry', file])
  assert.is(await rm.exitCode(), 0)
  assert.match(rm.lines[0], /removed abd-2 \(n-abd-2/)
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).agents.map((a: { sandbox_id: string }) => a.sandbox_id), ['abc-1'])
  assert.is(statSync(file).mode & 0o777, 0o600)
})

test.run()
