/**
 * The /mcp/ hub through the SDK's client: built-in tools (storage, capsules)
 * and upstream servers the test starts (Streamable HTTP, SSE, stdio), naming,
 * allow/deny lists, per-key and per-team permissions, team isolation of the
 * capsule tools, a dead upstream, a stdio server restarted, and stdio servers
 * stopped with nestbox.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { startTestNestbox, until, type TestNestbox } from '../harness.ts'
import { addMember } from '../capsules/fixtures.ts'
import { startHttpUpstream, startSseUpstream, type Upstream } from './upstreams.ts'

const MASTER = 'sk-mcp-hub-test-master'
const UPSTREAM_TOKEN = 'upstream-secret-token'
let nb: TestNestbox
let web: Upstream
let legacy: Upstream
let dir: string
const failFile = () => join(dir, 'fail')

type Result = { content: Array<{ type: string; text: string }>; isError?: boolean }

async function connect(key: string | null, path = '/mcp/'): Promise<Client> {
  const client = new Client({ name: 'hub-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(nb.url + path), { requestInit: { headers: key ? { authorization: `Bearer ${key}` } : {} } }))
  return client
}
async function names(key: string, path = '/mcp/'): Promise<string[]> {
  const c = await connect(key, path)
  try {
    return (await c.listTools()).tools.map((t) => t.name).sort()
  } finally {
    await c.close()
  }
}
async function call(key: string, name: string, args: Record<string, unknown> = {}, path = '/mcp/'): Promise<Result> {
  const c = await connect(key, path)
  try {
    return (await c.callTool({ name, arguments: args })) as Result
  } finally {
    await c.close()
  }
}
const gw = (path: string, body: unknown) =>
  fetch(nb.url + path, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: await r.json() }))
const virtualKey = async (body: Record<string, unknown>) => {
  const r = await gw('/key/generate', body)
  assert.is(r.status, 200, JSON.stringify(r.body))
  return r.body.key as string
}
async function rejects(p: Promise<unknown>, re?: RegExp) {
  const err = await p.then(() => null, (e: Error) => e)
  assert.ok(err, 'expected a rejection')
  if (re) assert.match(err!.message, re)
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nestbox-mcp-'))
  web = await startHttpUpstream('web')
  legacy = await startSseUpstream('legacy')
  const servers = {
    web: { url: web.url, transport: 'http', auth_type: 'bearer_token', auth_value: UPSTREAM_TOKEN, disallowed_tools: ['secret'] },
    legacy: { url: legacy.url, transport: 'sse', allowed_tools: ['echo', 'whoami'], auth_type: 'api_key', auth_value: 'k1' },
    local: { command: process.execPath, args: [join(import.meta.dirname, 'stdio-server.ts')], env: { MCP_FAIL_FILE: failFile(), FIXTURE_VALUE: 'from-config' } },
  }
  nb = await startTestNestbox({ set: { 'gateway.masterKey': MASTER, 'gateway.mcpServers': JSON.stringify(servers) } })
})

test.after(async () => {
  await nb?.close()
  await web?.stop()
  await legacy?.stop()
  rmSync(dir, { recursive: true, force: true })
})

test('the master key sees every server, tools named {server}-{tool}; allow and deny lists apply', async () => {
  const all = await names(MASTER)
  for (const t of ['storage-list_buckets', 'storage-upload', 'capsules-create', 'capsules-exec', 'capsules-read_file', 'capsules-write_file', 'capsules-list_files', 'capsules-destroy', 'web-echo', 'web-add', 'web-whoami', 'legacy-echo', 'legacy-whoami', 'local-echo', 'local-pid'])
    assert.ok(all.includes(t), `${t} listed`)
  assert.not.ok(all.includes('web-secret'), 'disallowed_tools hides a tool')
  assert.not.ok(all.includes('legacy-add'), 'allowed_tools hides the others')
})

test('calls reach each transport, with the configured upstream credentials', async () => {
  assert.equal((await call(MASTER, 'web-echo', { text: 'hi' })).content[0].text, 'web: hi')
  assert.equal((await call(MASTER, 'web-add', { a: 2, b: 40 })).content[0].text, '42')
  assert.equal((await call(MASTER, 'web-whoami')).content[0].text, `Bearer ${UPSTREAM_TOKEN}`)
  assert.equal((await call(MASTER, 'legacy-echo', { text: 'old' })).content[0].text, 'legacy: old')
  assert.equal((await call(MASTER, 'local-echo', { text: 'pipe' })).content[0].text, 'stdio: pipe')
  assert.equal((await call(MASTER, 'local-env', { name: 'FIXTURE_VALUE' })).content[0].text, 'from-config')
  assert.not.ok(web.seen.authorization.some((a) => a.includes(MASTER)), 'the caller\'s key never goes upstream')
  const failed = await call(MASTER, 'web-fail')
  assert.equal([failed.isError, failed.content[0].text], [true, 'tool says no'])
})

test('denied or unknown tools are not callable', async () => {
  const c = await connect(MASTER)
  try {
    for (const name of ['web-secret', 'legacy-add', 'nope-echo', 'web-nope']) {
      const r = await c.callTool({ name, arguments: {} }).then((x) => x as Result, (e: Error) => ({ content: [{ type: 'text', text: e.message }], isError: true }))
      assert.is(r.isError, true, name)
      assert.not.ok(r.content[0].text.includes('leaked'), name)
    }
  } finally {
    await c.close()
  }
})

test('/{server}/mcp serves one server alone, its tools unprefixed; trailing slash optional', async () => {
  assert.equal(await names(MASTER, '/web/mcp'), ['add', 'echo', 'fail', 'whoami'])
  assert.equal(await names(MASTER, '/local/mcp/'), ['echo', 'env', 'pid'])
  assert.equal((await call(MASTER, 'echo', { text: 'solo' }, '/legacy/mcp')).content[0].text, 'legacy: solo')
  assert.ok((await names(MASTER, '/mcp')).includes('web-echo'))
  assert.ok((await names(MASTER, '/capsules/mcp')).includes('exec'))
  const get = await fetch(nb.url + '/mcp/', { headers: { authorization: `Bearer ${MASTER}`, accept: 'text/event-stream' } })
  assert.equal([get.status, get.headers.get('allow')], [405, 'POST'], 'stateless: no idle GET stream')
  const r = await fetch(nb.url + '/nope/mcp', { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: '{}' })
  assert.is(r.status, 404)
})

test('without a valid key: 401 in the gateway envelope, with WWW-Authenticate', async () => {
  for (const headers of [{}, { authorization: 'Bearer sk-not-a-key-at-all-0000' }] as Array<Record<string, string>>) {
    const r = await fetch(nb.url + '/mcp/', { method: 'POST', headers: { ...headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) })
    assert.is(r.status, 401)
    assert.is(r.headers.get('www-authenticate'), 'Bearer')
    assert.ok((await r.json()).error.message)
  }
  await rejects(connect(null))
})

test('object_permission.mcp_servers: a key sees only its servers; a team\'s list bounds its keys', async () => {
  const onlyWeb = await virtualKey({ object_permission: { mcp_servers: ['web'] } })
  assert.equal(await names(onlyWeb), ['web-add', 'web-echo', 'web-fail', 'web-whoami'])
  assert.is((await call(onlyWeb, 'web-echo', { text: 'ok' })).content[0].text, 'web: ok')
  const c = await connect(onlyWeb)
  await rejects(c.callTool({ name: 'local-echo', arguments: { text: 'x' } }), /not found/)
  await c.close()
  const solo = await fetch(nb.url + '/local/mcp', { method: 'POST', headers: { authorization: `Bearer ${onlyWeb}`, 'content-type': 'application/json' }, body: '{}' })
  assert.is(solo.status, 404)
  const info = await fetch(`${nb.url}/key/info?key=${onlyWeb}`, { headers: { authorization: `Bearer ${MASTER}` } }).then((r) => r.json())
  assert.equal(info.info.object_permission, { mcp_servers: ['web'] })

  // A team of its own, restricted to web + capsules; its nestbox API key and its virtual keys see no more.
  const team = await addMember(nb, 'owner')
  const t = await gw('/team/update', { team_id: team.teamId, object_permission: { mcp_servers: ['web', 'capsules'] } })
  assert.is(t.status, 200, JSON.stringify(t.body))
  assert.equal(t.body.data.object_permission, { mcp_servers: ['web', 'capsules'] })
  const teamNames = await names(team.key)
  assert.ok(teamNames.includes('web-echo') && teamNames.includes('capsules-exec'))
  assert.not.ok(teamNames.some((n) => n.startsWith('local-') || n.startsWith('storage-') || n.startsWith('legacy-')))
  const narrowed = await virtualKey({ team_id: team.teamId, object_permission: { mcp_servers: ['web', 'local'] } })
  assert.equal(await names(narrowed), ['web-add', 'web-echo', 'web-fail', 'web-whoami'])
  const unrestricted = await virtualKey({})
  assert.ok((await names(unrestricted)).includes('local-echo'))
  // x-mcp-servers narrows (LiteLLM's header); it never widens what a key may use.
  const narrowed2 = async (key: string, header: string) => {
    const c = new Client({ name: 'hub-test', version: '1.0.0' })
    await c.connect(new StreamableHTTPClientTransport(new URL(nb.url + '/mcp/'), { requestInit: { headers: { authorization: `Bearer ${key}`, 'x-mcp-servers': header } } }))
    const list = (await c.listTools()).tools.map((t) => t.name)
    await c.close()
    return [...new Set(list.map((n) => n.split('-')[0]))].sort()
  }
  assert.equal(await narrowed2(unrestricted, 'legacy, local'), ['legacy', 'local'])
  assert.equal(await narrowed2(team.key, 'web,local'), ['web'])

  // Bad input is refused; a blocked key gets nothing.
  assert.is((await gw('/key/generate', { object_permission: { mcp_servers: 'web' } })).status, 400)
  assert.is((await gw('/key/generate', { object_permission: { vector_stores: ['x'] } })).status, 400)
  assert.is((await gw('/key/block', { key: onlyWeb })).status, 200)
  await rejects(connect(onlyWeb))
})

test('tool calls count in the key\'s request limits', async () => {
  const key = await virtualKey({ rpm_limit: 2 })
  const c = await connect(key)
  try {
    for (let i = 0; i < 2; i++) assert.is(((await c.callTool({ name: 'web-add', arguments: { a: i, b: 1 } })) as Result).content[0].text, String(i + 1))
    const over = (await c.callTool({ name: 'web-add', arguments: { a: 1, b: 1 } })) as Result
    assert.is(over.isError, true)
    assert.match(over.content[0].text, /Rate limit reached for this key: 2 requests per minute/)
    assert.ok((await c.listTools()).tools.length > 0, 'listing is not a call')
  } finally {
    await c.close()
  }
})

test('capsule tools act for the key\'s team only, end to end', async () => {
  const a = await addMember(nb, 'owner')
  const b = await addMember(nb, 'owner')
  const created = await call(a.key, 'capsules-create', {})
  assert.not.ok(created.isError, created.content[0].text)
  const cap = JSON.parse(created.content[0].text)
  assert.is(cap.status, 'running')
  assert.is(cap.team_id, a.teamId)
  const id = cap.id as string
  try {
    const w = await call(a.key, 'capsules-write_file', { capsule_id: id, path: '/tmp/note.txt', content: 'hello capsule' })
    assert.not.ok(w.isError, w.content[0].text)
    const ex = JSON.parse((await call(a.key, 'capsules-exec', { capsule_id: id, cmd: 'cat /tmp/note.txt; echo; echo err >&2; exit 3' })).content[0].text)
    assert.equal([ex.stdout, ex.stderr, ex.exit_code], ['hello capsule\n', 'err\n', 3])
    const read = JSON.parse((await call(a.key, 'capsules-read_file', { capsule_id: id, path: '/tmp/note.txt' })).content[0].text)
    assert.equal([read.content, read.encoding], ['hello capsule', 'utf-8'])
    const bin = await call(a.key, 'capsules-write_file', { capsule_id: id, path: '/tmp/b.bin', content_base64: Buffer.from([0, 255, 7]).toString('base64') })
    assert.not.ok(bin.isError)
    assert.is(JSON.parse((await call(a.key, 'capsules-read_file', { capsule_id: id, path: '/tmp/b.bin' })).content[0].text).content, 'AP8H')
    const ls = JSON.parse((await call(a.key, 'capsules-list_files', { capsule_id: id, path: '/tmp' })).content[0].text)
    assert.ok(ls.some((e: { name: string }) => e.name === 'note.txt'))
    // A capsule's own gateway key acts for its team too (an agent inside reaching nestbox's MCP).
    const cred = await nb.services.gateway.mintCapsuleKey(a.teamId, id, nb.url)
    assert.is(JSON.parse((await call(cred.key, 'capsules-exec', { capsule_id: id, cmd: 'echo from-inside' })).content[0].text).stdout, 'from-inside\n')
    const mine = JSON.parse((await call(a.key, 'capsules-list')).content[0].text)
    assert.equal(mine.map((c: { id: string }) => c.id), [id])

    // Another team: the capsule does not exist for it; its list is empty.
    for (const [tool, args] of [['exec', { cmd: 'id' }], ['read_file', { path: '/tmp/note.txt' }], ['write_file', { path: '/tmp/x', content: 'x' }], ['list_files', { path: '/' }], ['destroy', {}]] as const) {
      const r = await call(b.key, `capsules-${tool}`, { capsule_id: id, ...args })
      assert.is(r.isError, true, tool)
      assert.match(r.content[0].text, /not found/, tool)
    }
    assert.equal(JSON.parse((await call(b.key, 'capsules-list')).content[0].text), [])
    // The master key has no team to act for; bad arguments are a tool error naming the field.
    const m = await call(MASTER, 'capsules-list')
    assert.equal([m.isError, /team/.test(m.content[0].text)], [true, true])
    const bad = await call(a.key, 'capsules-exec', { capsule_id: id })
    assert.is(bad.isError, true)
    assert.match(bad.content[0].text, /cmd/)

    // Tool calls are in the team's audit log with key, duration and outcome (written in batches: within moments).
    const entry = await until(async () => {
      const audit = await fetch(nb.url + '/v1/audit-logs?limit=200', { headers: { 'x-api-key': a.key } }).then((r) => r.json())
      return audit.entries.find((e: { resource_type: string; resource_id: string }) => e.resource_type === 'mcp_tool' && e.resource_id === 'capsules-exec')
    }, 20_000, 'the audit entry for capsules-exec')
    assert.is(entry.team_id, a.teamId)
    assert.is(typeof entry.metadata.duration_ms, 'number')
  } finally {
    const d = await call(a.key, 'capsules-destroy', { capsule_id: id })
    assert.not.ok(d.isError, d.content[0].text)
  }
  assert.equal(JSON.parse((await call(a.key, 'capsules-list')).content[0].text).filter((c: { status: string }) => c.status !== 'stopped'), [])
})

test('a dead upstream fails its own tools with a clear error, the rest keep working; it is reconnected when back', async () => {
  assert.is((await call(MASTER, 'web-echo', { text: 'before' })).content[0].text, 'web: before')
  await web.stop()
  const list = await names(MASTER)
  assert.ok(list.includes('web-echo'), 'its last known tools stay listed')
  assert.ok(list.includes('local-echo'))
  const r = await call(MASTER, 'web-echo', { text: 'down' })
  assert.is(r.isError, true)
  assert.match(r.content[0].text, /MCP server "web" is unavailable/)
  assert.is((await call(MASTER, 'legacy-echo', { text: 'still' })).content[0].text, 'legacy: still')
  await web.start() // same port, a new process state: the old session is unknown to it
  const back = await until(async () => {
    const x = await call(MASTER, 'web-echo', { text: 'after' })
    return x.isError ? null : x
  }, 20_000, 'web to answer again')
  assert.is(back.content[0].text, 'web: after')

  // The same for the SSE transport: its session dies with the server.
  assert.is((await call(MASTER, 'legacy-echo', { text: 'a' })).content[0].text, 'legacy: a')
  await legacy.stop()
  const down = await call(MASTER, 'legacy-echo', { text: 'b' })
  assert.is(down.isError, true)
  assert.match(down.content[0].text, /MCP server "legacy" is unavailable/)
  await legacy.start()
  const again = await until(async () => {
    const x = await call(MASTER, 'legacy-echo', { text: 'c' })
    return x.isError ? null : x
  }, 20_000, 'legacy to answer again')
  assert.is(again.content[0].text, 'legacy: c')
})

test('a stdio server that dies is restarted with backoff; while it cannot start its tools fail clearly', async () => {
  const pid1 = Number((await call(MASTER, 'local-pid')).content[0].text)
  assert.ok(pid1 > 0)
  writeFileSync(failFile(), 'x')
  process.kill(pid1, 'SIGKILL')
  const hub = await nb.services.mcp.hub()
  await until(async () => hub.status().find((s) => s.name === 'local')!.state === 'down', 20_000, 'local to be down')
  const r = await call(MASTER, 'local-echo', { text: 'x' })
  assert.is(r.isError, true)
  assert.match(r.content[0].text, /MCP server "local" is unavailable/)
  assert.ok((await names(MASTER)).includes('local-echo'), 'still listed while down')
  rmSync(failFile())
  const pid2 = await until(async () => {
    const x = await call(MASTER, 'local-pid')
    return x.isError ? null : Number(x.content[0].text)
  }, 20_000, 'local to be restarted')
  assert.ok(pid2 !== pid1)
  assert.ok(hub.status().find((s) => s.name === 'local')!.restarts >= 1)
})

test('storage tools at /mcp/ take a bucket key as auth_key; /storage/mcp/ still serves them unprefixed', async () => {
  const r = await call(MASTER, 'storage-list_buckets')
  assert.is(r.isError, true, 'the gateway key is not a storage key')
  const own = await names(MASTER, '/storage/mcp/')
  assert.ok(own.includes('list_buckets') && !own.includes('storage-list_buckets'))
})

test('stdio servers stop with nestbox', async () => {
  const pid = Number((await call(MASTER, 'local-pid')).content[0].text)
  const alive = () => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
  assert.ok(alive())
  await nb.close()
  await until(async () => !alive(), 10_000, 'the stdio server to exit')
  nb = undefined as unknown as TestNestbox
  assert.not.ok(existsSync(failFile()))
})

test.run()
