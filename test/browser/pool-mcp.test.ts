/**
 * MCP through the pool with the SDK client: a session sticks to one replica by
 * Mcp-Session-Id (two sessions on two replicas keep separate pages), the tools
 * join the /mcp/ hub as browser-* for keys of the pool's team only, and the
 * endpoint needs the surface's credentials.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { addMember } from '../capsules/fixtures.ts'
import type { TestNestbox } from '../harness.ts'
import type { PageServer } from './pages.ts'
import { client, startPoolWithPages, status, until } from './pool-helpers.ts'

let nb: TestNestbox
let token: string
let pages: PageServer
let close = async () => {}

test.before(async () => {
  ;({ nb, token, pages, close } = await startPoolWithPages({ '/one': '<html><head><title>One</title></head><body>page one</body></html>', '/two': '<html><head><title>Two</title></head><body>page two</body></html>' }, { 'browser.replicas': 2 }))
})
test.after(() => close())

const connect = async (path: string, bearer: string) => {
  const c = new Client({ name: 'test', version: '1' })
  const t = new StreamableHTTPClientTransport(new URL(`${nb.url}${path}`), { requestInit: { headers: { authorization: `Bearer ${bearer}` } } })
  await c.connect(t)
  return { c, t }
}
const text = (r: Awaited<ReturnType<Client['callTool']>>) => (r.content as Array<{ type: string; text: string }>)[0].text

test('each MCP session keeps its replica (Mcp-Session-Id), so two sessions browse separately', async () => {
  const one = await connect('/stealthy-auto-browse/mcp/', token)
  const two = await connect('/stealthy-auto-browse/mcp/', token)
  assert.match(one.t.sessionId ?? '', /^sab-[0-9a-f]{32}$/)
  assert.is.not(one.t.sessionId, two.t.sessionId)
  const names = (await one.c.listTools()).tools.map((t) => t.name)
  for (const n of ['goto', 'get_text', 'eval_js', 'browser_action', 'run_script', 'screenshot']) assert.ok(names.includes(n), n)
  // Both navigate at the same time: two replicas, one each. Replicas start on demand and a session is
  // pinned by its first call, so both must be up first (two waiting requests start both): otherwise the
  // first to come up can take both first calls, and both sessions share it.
  const http = client(nb, token)
  await Promise.all([http.post({ action: 'ping' }), http.post({ action: 'ping' })])
  await until(async () => (await status(nb)).running === 2, 60_000, 'both replicas running')
  const went = await Promise.all([one.c.callTool({ name: 'goto', arguments: { url: `${pages.base}/one` } }), two.c.callTool({ name: 'goto', arguments: { url: `${pages.base}/two` } })])
  for (const g of went) assert.not.ok(g.isError, text(g))
  for (let i = 0; i < 3; i++) {
    const [a, b] = await Promise.all([one.c.callTool({ name: 'get_text', arguments: {} }), two.c.callTool({ name: 'get_text', arguments: {} })])
    assert.match(text(a), /page one/, `session one read: ${text(a)}`)
    assert.match(text(b), /page two/, `session two read: ${text(b)}`)
  }
  assert.is((await status(nb)).running, 2)
  await one.c.close()
  await two.c.close()
})

test('the /mcp/ hub offers browser-* to the pool team; with several replicas only run_script', async () => {
  const hub = await connect('/mcp/', nb.apiKey)
  const names = (await hub.c.listTools()).tools.map((t) => t.name).filter((n) => n.startsWith('browser-'))
  assert.equal(names, ['browser-run_script'])
  const r = await hub.c.callTool({ name: 'browser-run_script', arguments: { steps: [{ action: 'goto', url: `${pages.base}/one` }, { action: 'get_text', output_id: 't' }] } })
  assert.not.ok(r.isError, text(r))
  assert.match(text(r), /page one/)
  await hub.c.close()
  const other = await addMember(nb, 'owner')
  const foreign = await connect('/mcp/', other.key)
  const refused = await foreign.c.callTool({ name: 'browser-run_script', arguments: { steps: [{ action: 'ping' }] } })
  assert.is(refused.isError, true)
  assert.match(text(refused), /another team/)
  await foreign.c.close()
})

test('the MCP endpoint needs the token or a key of the team', async () => {
  const anon = await fetch(`${nb.url}/stealthy-auto-browse/mcp/`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) })
  assert.is(anon.status, 401)
  const withKey = await connect('/stealthy-auto-browse/mcp', nb.apiKey)
  assert.ok((await withKey.c.listTools()).tools.length > 5)
  await withKey.c.close()
})

test.run()
