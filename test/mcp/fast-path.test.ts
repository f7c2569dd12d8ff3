/**
 * The hub's fast path for tools/list and tools/call (lib/mcp/fast-path.ts):
 * what the SDK's client sends takes it, and its answers are the ones the
 * SDK's own transport gives for the same request (asked again with a
 * Content-Type the fast path leaves to the SDK), for results, tool errors,
 * unknown tools and either kind of id; requests it declines are still served.
 * Also the hub's own client to HTTP upstreams (upstream-fetch.ts), against an
 * upstream answering JSON and one answering event streams; and tool-call audit
 * entries written in batches, none lost at stop.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js'
import { fastHeaders, fastRequest } from '../../lib/mcp/fast-path.ts'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startHttpUpstream, type Upstream } from './upstreams.ts'

const MASTER = 'sk-mcp-fast-path-master'
let nb: TestNestbox
let web: Upstream
let streamed: Upstream

test.before(async () => {
  web = await startHttpUpstream('web')
  streamed = await startHttpUpstream('streamed', { eventStream: true })
  const servers = { web: { url: web.url, transport: 'http', auth_type: 'bearer_token', auth_value: 'up-token' }, streamed: { url: streamed.url, transport: 'http' } }
  nb = await startTestNestbox({ set: { 'gateway.masterKey': MASTER, 'gateway.mcpServers': JSON.stringify(servers) } })
})
test.after(async () => {
  await nb?.close()
  await web?.stop()
  await streamed?.stop()
})

/** One JSON-RPC POST to /mcp/ with `contentType`; status, content type and parsed body. */
async function rpc(body: unknown, contentType = 'application/json') {
  const r = await fetch(nb.url + '/mcp/', {
    method: 'POST',
    headers: { authorization: `Bearer ${MASTER}`, accept: 'application/json, text/event-stream', 'content-type': contentType, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION },
    body: JSON.stringify(body),
  })
  return { status: r.status, type: r.headers.get('content-type'), body: r.status === 202 ? null : await r.json() }
}
/** The same request through the fast path and through the SDK's transport (a Content-Type with parameters goes there). */
async function both(body: unknown) {
  const fast = await rpc(body)
  const sdk = await rpc(body, 'application/json; charset=utf-8')
  assert.equal(fast, sdk, `fast path and SDK differ for ${JSON.stringify(body)}`)
  return fast
}

test('what the SDK client sends for tools/list and tools/call takes the fast path', async () => {
  const seen: Array<{ headers: Record<string, string>; body: unknown }> = []
  const spy: typeof fetch = async (url, init) => {
    const headers: Record<string, string> = {}
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v))
    if (typeof init?.body === 'string') seen.push({ headers, body: JSON.parse(init.body) })
    return fetch(url, init)
  }
  const client = new Client({ name: 'fast-path-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(nb.url + '/mcp/'), { requestInit: { headers: { authorization: `Bearer ${MASTER}` } }, fetch: spy }))
  const tools = (await client.listTools()).tools.map((t) => t.name)
  assert.ok(tools.includes('web-echo'), tools.join(','))
  const r = (await client.callTool({ name: 'web-echo', arguments: { text: 'hi' } })) as { content: Array<{ text: string }> }
  assert.is(r.content[0].text, 'web: hi')
  await client.close()
  const methods = (m: string) => seen.filter((s) => (s.body as { method?: string }).method === m)
  for (const m of ['tools/list', 'tools/call']) {
    assert.is(methods(m).length, 1, m)
    const s = methods(m)[0]
    // header names as Node delivers them (lower case)
    assert.ok(fastHeaders(s.headers), `${m} headers: ${JSON.stringify(s.headers)}`)
    assert.ok(fastRequest(s.body), `${m} body: ${JSON.stringify(s.body)}`)
  }
  // initialize and notifications stay with the SDK
  assert.is(fastRequest(methods('initialize')[0].body), null)
  assert.is(fastRequest(methods('notifications/initialized')[0].body), null)
})

test('answers equal the SDK transport’s: list, result, tool error, unknown tool, string and numeric ids', async () => {
  const list = await both({ jsonrpc: '2.0', id: 1, method: 'tools/list' })
  assert.is(list.status, 200)
  assert.is(list.type, 'application/json')
  assert.ok((list.body.result.tools as Array<{ name: string }>).some((t) => t.name === 'web-add'))

  const ok = await both({ jsonrpc: '2.0', id: 'call-7', method: 'tools/call', params: { name: 'web-add', arguments: { a: 2, b: 3 } } })
  assert.equal(ok.body, { result: { content: [{ type: 'text', text: '5' }] }, jsonrpc: '2.0', id: 'call-7' })

  const failed = await both({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'web-fail', arguments: {} } })
  assert.is(failed.body.result.isError, true)

  const unknown = await both({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'nosuch-tool', arguments: {} } })
  assert.equal(unknown.body, { jsonrpc: '2.0', id: 9, error: { code: -32602, message: 'MCP error -32602: Tool nosuch-tool not found' } })
  // an upstream's own unknown tool is its answer, passed on
  const upstreamUnknown = await both({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'web-nope', arguments: {} } })
  assert.is(upstreamUnknown.body.result.isError, true)
})

test('requests the fast path declines are answered by the SDK: bad params, batches, notifications, bad JSON', async () => {
  const noName = await rpc({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { arguments: {} } })
  assert.is(noName.status, 200)
  assert.ok(noName.body.error, JSON.stringify(noName.body))
  const batch = await rpc([{ jsonrpc: '2.0', id: 11, method: 'tools/list' }, { jsonrpc: '2.0', id: 12, method: 'tools/call', params: { name: 'web-add', arguments: { a: 1, b: 1 } } }])
  assert.is(batch.status, 200)
  assert.equal((batch.body as Array<{ id: number }>).map((m) => m.id).sort(), [11, 12])
  assert.is((await rpc({ jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202)
  const r = await fetch(nb.url + '/mcp/', { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, accept: 'application/json, text/event-stream', 'content-type': 'application/json' }, body: '{not json' })
  assert.is(r.status, 400)
  assert.is(((await r.json()) as { error: { code: number } }).error.code, -32700)
  // a client that does not accept the event stream gets the SDK's 406
  const n = await fetch(nb.url + '/mcp/', { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, accept: 'application/json', 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) })
  assert.is(n.status, 406)
})

test('the hub’s client to upstreams (upstream-fetch.ts): JSON and event-stream answers, its headers, one session kept', async () => {
  const client = new Client({ name: 'fast-path-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(nb.url + '/mcp/'), { requestInit: { headers: { authorization: `Bearer ${MASTER}` } } }))
  const before = streamed.seen.authorization.length
  for (let i = 0; i < 3; i++) {
    const r = (await client.callTool({ name: 'streamed-add', arguments: { a: i, b: 10 } })) as { content: Array<{ text: string }> }
    assert.is(r.content[0].text, String(i + 10))
  }
  // one POST per call on the kept session: no reconnects, no new initialize
  assert.is(streamed.seen.authorization.length - before, 3)
  const who = (await client.callTool({ name: 'web-whoami', arguments: {} })) as { content: Array<{ text: string }> }
  assert.is(who.content[0].text, 'Bearer up-token')
  const err = (await client.callTool({ name: 'streamed-fail', arguments: {} })) as { isError?: boolean; content: Array<{ text: string }> }
  assert.is(err.isError, true)
  assert.is(err.content[0].text, 'tool says no')
  await client.close()
})

test('tool calls are audited in batches; entries still queued when nestbox stops are written before it stops', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nestbox-mcp-audit-'))
  const set = { 'gateway.mcpServers': JSON.stringify({ web: { url: web.url, transport: 'http' } }) }
  const entries = async (n: TestNestbox) => {
    const page = await (await fetch(`${n.url}/v1/audit-logs?limit=200`, { headers: { 'x-api-key': n.apiKey } })).json()
    return (page.entries as Array<{ resource_type: string; resource_id: string; status: string; metadata: { key: string } }>).filter((e) => e.resource_type === 'mcp_tool')
  }
  const calls = async (n: TestNestbox, count: number) => {
    const client = new Client({ name: 'audit-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(n.url + '/mcp/'), { requestInit: { headers: { authorization: `Bearer ${n.apiKey}` } } }))
    for (let i = 0; i < count; i++) await client.callTool({ name: i % 2 ? 'web-fail' : 'web-add', arguments: i % 2 ? {} : { a: i, b: 1 } })
    await client.close()
  }
  try {
    let n = await startTestNestbox({ dataDir: dir, set })
    await calls(n, 4)
    for (let t = Date.now(); (await entries(n)).length < 4; ) {
      assert.ok(Date.now() - t < 10_000, 'the first batch was written')
      await new Promise((r) => setTimeout(r, 20))
    }
    const first = await entries(n)
    assert.equal(first.map((e) => e.resource_id).sort(), ['web-add', 'web-add', 'web-fail', 'web-fail'])
    assert.equal(first.map((e) => e.status).sort(), ['failure', 'failure', 'success', 'success'])
    // stopped at once after the calls: the queued entries are written by the stop
    await calls(n, 3)
    await n.close()
    n = await startTestNestbox({ dataDir: dir, set })
    assert.is((await entries(n)).length, 7)
    await n.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('without a key the fast path is never reached', async () => {
  const r = await fetch(nb.url + '/mcp/', { method: 'POST', headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'web-echo', arguments: { text: 'x' } } }) })
  assert.is(r.status, 401)
  assert.is(web.calls, 1) // the one echo call of the first test (echo counts its calls)
})

test.run()
