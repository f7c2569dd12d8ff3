/**
 * The browser's MCP tools through the MCP SDK client at
 * /stealthy-auto-browse/mcp/ on one real replica: the original's tool names,
 * each mapped onto its action (eval_js onto eval, browser_action onto any),
 * the screenshot as image content, failures as tool errors.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { decodePng, startBrowserTest, type BrowserTest } from './actions-helpers.ts'

const PAGE = `<!doctype html><html><head><title>MCP Page</title><style>body { margin: 0; background: #0000ff; height: 3000px }</style></head><body>
<input id="q" style="position:absolute; left:50px; top:50px; width:200px">
<button id="b" style="position:absolute; left:50px; top:100px" onclick="document.title = 'clicked ' + event.isTrusted">Press</button>
<p style="position:absolute; top:200px; color:white">mcp text here</p>
<script>setTimeout(() => { const d = document.createElement('div'); d.id = 'late'; d.textContent = 'late arrival'; document.body.append(d) }, 300)</script>
</body></html>`

const NAMES = ['browser_action', 'click', 'eval_js', 'fill', 'get_html', 'get_interactive_elements', 'get_text', 'goto', 'mouse_move', 'run_script', 'screenshot', 'scroll', 'send_key', 'system_click', 'system_type', 'wait_for_element', 'wait_for_text']

let t: BrowserTest
let client: Client

type CallResult = Awaited<ReturnType<Client['callTool']>>
const call = (name: string, args: Record<string, unknown> = {}) => client.callTool({ name, arguments: args })
const textOf = (r: CallResult) => (r.content as Array<{ type: string; text?: string }>).find((c) => c.type === 'text')?.text ?? ''
/** The tool's answer: the POST / envelope as JSON text. */
const answer = async (name: string, args: Record<string, unknown> = {}) => {
  const r = await call(name, args)
  const a = JSON.parse(textOf(r))
  if (!a.success || r.isError) throw new Error(`${name} failed: ${textOf(r)}`)
  return a.data
}
const js = async (expression: string) => (await answer('eval_js', { expression })).result

test.before(async () => {
  t = await startBrowserTest({ '/': PAGE })
  client = new Client({ name: 'mcp-test', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.nb.url}/stealthy-auto-browse/mcp/`), { requestInit: { headers: { authorization: `Bearer ${t.token}` } } }))
})
test.after(async () => {
  await client?.close()
  await t?.close()
})

test('the original\'s tool names, each with a description and an input schema', async () => {
  const { tools } = await client.listTools()
  assert.equal(tools.map((x) => x.name).sort(), NAMES)
  for (const tool of tools) {
    assert.ok(tool.description && tool.description.length > 20, tool.name)
    assert.is(tool.inputSchema.type, 'object')
  }
  const shot = tools.find((x) => x.name === 'screenshot')!
  assert.ok('screenshot_type' in (shot.inputSchema.properties ?? {}))
})

test('goto, get_text, get_html, get_interactive_elements, eval_js', async () => {
  assert.equal(await answer('goto', { url: `${t.pages.base}/` }), { url: `${t.pages.base}/`, title: 'MCP Page' })
  assert.match((await answer('get_text')).text, /mcp text here/)
  assert.match((await answer('get_html')).html, /<button id="b"/)
  const els = await answer('get_interactive_elements')
  assert.equal(els.elements.map((e: { id: string }) => e.id), ['q', 'b'])
  assert.is(await js('1 + 1'), 2)
})

test('wait_for_element, wait_for_text, click and fill', async () => {
  await answer('goto', { url: `${t.pages.base}/` })
  assert.equal(await answer('wait_for_element', { selector: '#late', timeout: 5 }), { selector: '#late', state: 'visible' })
  assert.equal(await answer('wait_for_text', { text: 'late arrival', timeout: 5 }), { text: 'late arrival', found: true })
  await answer('fill', { selector: '#q', value: 'filled' })
  assert.is(await js('document.getElementById("q").value'), 'filled')
  await answer('click', { selector: '#b' })
  assert.is(await js('document.title'), 'clicked true')
})

test('OS-level tools: system_click, system_type, send_key, mouse_move, scroll', async () => {
  await answer('goto', { url: `${t.pages.base}/` })
  const els = await answer('get_interactive_elements')
  const q = els.elements.find((e: { id: string }) => e.id === 'q')
  await answer('mouse_move', { x: 300, y: 300, duration: 0.1 })
  await answer('system_click', { x: q.x, y: q.y, duration: 0.2 })
  await answer('system_type', { text: 'typed by mcp', interval: 0.01 })
  const until = (cond: string, read: string) =>
    js(`new Promise((done) => { const end = Date.now() + 5000; const f = () => (${cond}) || Date.now() > end ? done(${read}) : setTimeout(f, 20); f() })`)
  assert.is(await until('document.getElementById("q").value.length >= 12', 'document.getElementById("q").value'), 'typed by mcp')
  await answer('send_key', { key: 'ctrl+a' })
  await answer('send_key', { key: 'delete' })
  assert.is(await until('document.getElementById("q").value === ""', 'document.getElementById("q").value'), '')
  assert.equal(await answer('scroll', { amount: -3, x: 400, y: 400 }), { scrolled: -3 })
  assert.ok((await until('scrollY > 0', 'scrollY')) > 0)
})

test('screenshot is image content: a PNG of the page, resized as asked', async () => {
  await answer('goto', { url: `${t.pages.base}/` })
  const r = await call('screenshot', { whLargest: 256 })
  assert.not.ok(r.isError)
  const img = (r.content as Array<{ type: string; data: string; mimeType: string }>)[0]
  assert.equal([img.type, img.mimeType], ['image', 'image/png'])
  const png = decodePng(Buffer.from(img.data, 'base64'))
  assert.is(Math.max(png.width, png.height), 256)
  const [red, green, blue] = png.pixel(png.width - 5, png.height - 5)
  assert.ok(blue > 200 && red < 60 && green < 60, `the page's blue background (${red},${green},${blue})`)
  const desk = await call('screenshot', { screenshot_type: 'desktop', width: 100, height: 40 })
  const dimg = (desk.content as Array<{ data: string }>)[0]
  const dpng = decodePng(Buffer.from(dimg.data, 'base64'))
  assert.equal([dpng.width, dpng.height], [100, 40])
})

test('browser_action runs any action by name; run_script a whole workflow', async () => {
  await answer('goto', { url: `${t.pages.base}/` })
  await answer('browser_action', { action: 'set_cookie', params: { name: 'via', value: 'mcp', url: `${t.pages.base}/` } })
  const cookies = await answer('browser_action', { action: 'get_cookies' })
  assert.ok(cookies.cookies.some((c: { name: string }) => c.name === 'via'))
  assert.equal(await answer('browser_action', { action: 'ping' }), { message: 'pong', url: `${t.pages.base}/` })
  const d = await answer('run_script', { steps: [{ action: 'goto', url: `${t.pages.base}/` }, { action: 'eval', expression: 'document.title', output_id: 'title' }, { repeat: { count: 2, steps: [{ action: 'ping' }] } }] })
  assert.equal([d.name, d.success, d.steps_executed], ['mcp_script', true, 3])
  assert.equal(d.outputs.title, { result: 'MCP Page' })
})

test('failures are tool errors carrying the envelope; bad arguments are refused', async () => {
  const miss = await call('wait_for_element', { selector: '#never', timeout: 0.2 })
  assert.is(miss.isError, true)
  const a = JSON.parse(textOf(miss))
  assert.is(a.success, false)
  assert.match(a.error, /Timeout/)
  const unknown = await call('browser_action', { action: 'teleport' })
  assert.is(unknown.isError, true)
  assert.match(textOf(unknown), /Unknown action: teleport/)
  const bad = await call('system_click', { x: 'left' })
  assert.is(bad.isError, true)
  assert.match(textOf(bad), /invalid arguments for system_click/)
})

test.run()
