/**
 * /stealthy-auto-browse/ POST /: navigation, reading the page and DOM actions
 * on a real replica, each answer in the original's envelope; failures are
 * HTTP 200 with success false and the reason.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ok, startBrowserTest, type BrowserTest } from './actions-helpers.ts'

const HOME = `<!doctype html><html><head><title>Test Page</title></head><body>
<h1>Hello world</h1>
<a id="two" href="/two">second</a>
<input id="name" placeholder="Your name">
<input id="typed" oninput="window.inputs = (window.inputs || 0) + 1">
<button id="go" onclick="document.getElementById('out').textContent = 'clicked ' + event.isTrusted">Go</button>
<button id="ask" onclick="document.getElementById('out').textContent = 'answer ' + confirm('Sure?')">Ask</button>
<button id="hidden" style="display:none">Hidden</button>
<div id="out"></div>
</body></html>`
const LATE = `<title>Late</title><body><script>setTimeout(() => { const p = document.createElement('p'); p.id = 'late'; p.textContent = 'ready now'; document.body.append(p) }, 400)</script></body>`

let t: BrowserTest

test.before(async () => {
  t = await startBrowserTest({ '/': HOME, '/two': '<title>Two</title><p>second page</p>', '/late': LATE, '/long': `<title>Long</title><body><p>${'x'.repeat(12_000)}</p></body>` }, {
    // two tabs of Chromium come close to the default 256 MiB; this file is about actions, not the memory limit
    'browser.memoryMb': 512,
  })
})
test.after(async () => {
  await t?.close()
})

test('goto answers url and title, sends the referer, and the answer sets the INSTANCEID cookie', async () => {
  const res = await fetch(`${t.nb.url}/stealthy-auto-browse/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'goto', url: `${t.pages.base}/`, referer: 'https://referrer.example/' }),
  })
  assert.is(res.status, 200, await res.clone().text())
  assert.match(res.headers.get('set-cookie') ?? '', /^INSTANCEID=br-/)
  const a = (await res.json()) as { success: boolean; timestamp: number; data: unknown }
  assert.is(a.success, true)
  assert.type(a.timestamp, 'number')
  assert.ok(Math.abs(a.timestamp - Date.now() / 1000) < 60, 'timestamp is in seconds')
  assert.equal(a.data, { url: `${t.pages.base}/`, title: 'Test Page' })
  const seen = (await t.pages.requests()).filter((r) => r.url === '/')
  assert.is(seen.at(-1)?.headers.referer, 'https://referrer.example/')
})

test('ping, get_text, get_html, eval and eval_js', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  assert.equal(await ok(t, { action: 'ping' }), { message: 'pong', url: `${t.pages.base}/` })
  const text = await ok(t, { action: 'get_text' })
  assert.match(text.text, /Hello world/)
  assert.is(text.length, text.text.length)
  const html = await ok(t, { action: 'get_html' })
  assert.match(html.html, /<h1>Hello world<\/h1>/)
  assert.is(html.length, html.html.length)
  assert.equal(await ok(t, { action: 'eval', expression: 'document.title + " " + (1 + 2)' }), { result: 'Test Page 3' })
  assert.equal(await ok(t, { action: 'eval_js', expression: '({ a: [1, "b"] })' }), { result: { a: [1, 'b'] } })
  assert.equal(await ok(t, { action: 'eval', expression: 'undefined' }), { result: null })
  assert.equal(await ok(t, { action: 'eval', expression: 'new Promise((r) => setTimeout(() => r("later"), 100))' }), { result: 'later' })
  const never = await t.post({ action: 'eval', expression: 'new Promise(() => {})', timeout: 0.3 })
  assert.equal([never.success, never.error], [false, 'eval: no result within 300 ms'])
  assert.equal(await ok(t, { action: 'ping' }), { message: 'pong', url: `${t.pages.base}/` }, 'the replica is free again')
})

test('get_text gives at most 10,000 characters and the full length', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/long` })
  const d = await ok(t, { action: 'get_text' })
  assert.is(d.text.length, 10_000)
  assert.is(d.length, 12_000)
})

test('get_interactive_elements: visible ones with viewport centre, size and a selector that finds them', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  const d = await ok(t, { action: 'get_interactive_elements' })
  assert.is(d.count, d.elements.length)
  const ids = d.elements.map((e: { id: string }) => e.id)
  assert.equal(ids, ['two', 'name', 'typed', 'go', 'ask'])
  const go = d.elements.find((e: { id: string }) => e.id === 'go')
  assert.equal(Object.keys(go).sort(), ['h', 'i', 'id', 'selector', 'tag', 'text', 'visible', 'w', 'x', 'y'])
  assert.is(go.tag, 'button')
  assert.is(go.text, 'Go')
  assert.is(go.visible, true)
  const rect = (await ok(t, { action: 'eval', expression: `(() => { const r = document.querySelector(${JSON.stringify(go.selector)}).getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height].map(Math.round) })()` })).result
  assert.equal([go.x, go.y, go.w, go.h], rect)
  assert.is(d.elements.find((e: { id: string }) => e.id === 'name').text, 'Your name')
  const all = await ok(t, { action: 'get_interactive_elements', visible_only: false })
  const hidden = all.elements.find((e: { id: string }) => e.id === 'hidden')
  assert.is(hidden?.visible, false)
})

test('click (CSS and xpath=), fill and type are DOM actions', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  assert.equal(await ok(t, { action: 'click', selector: '#go' }), { clicked: '#go' })
  assert.equal(await ok(t, { action: 'eval', expression: 'document.getElementById("out").textContent' }), { result: 'clicked true' })
  await ok(t, { action: 'click', selector: 'xpath=//a[@id="two"]' })
  await ok(t, { action: 'wait_for_url', url: '**/two', timeout: 5 })
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  await ok(t, { action: 'fill', selector: '#name', value: 'Ada' })
  assert.equal(await ok(t, { action: 'type', selector: '#typed', text: 'abc', delay: 0.01 }), { typed: '#typed' })
  const r = await ok(t, { action: 'eval', expression: '[document.getElementById("name").value, document.getElementById("typed").value, window.inputs]' })
  assert.equal(r.result, ['Ada', 'abc', 3], 'type sends one input event per key')
})

test('wait_for_element and wait_for_text wait for the page; a timeout is success:false with the reason', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/late` })
  assert.equal(await ok(t, { action: 'wait_for_element', selector: '#late', timeout: 5 }), { selector: '#late', state: 'visible' })
  await ok(t, { action: 'goto', url: `${t.pages.base}/late` })
  assert.equal(await ok(t, { action: 'wait_for_text', text: 'ready now', timeout: 5 }), { text: 'ready now', found: true })
  const miss = await t.post({ action: 'wait_for_element', selector: '#never', timeout: 0.3 })
  assert.is(miss.success, false)
  assert.match(miss.error!, /Timeout 300ms exceeded/)
  assert.not.ok('data' in miss)
})

test('dialogs are answered as handle_dialog said; cookies and web storage', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  await ok(t, { action: 'handle_dialog', accept: false })
  await ok(t, { action: 'click', selector: '#ask' })
  assert.equal((await ok(t, { action: 'eval', expression: 'document.getElementById("out").textContent' })).result, 'answer false')
  assert.equal((await ok(t, { action: 'get_last_dialog' })).dialog, { type: 'confirm', message: 'Sure?', default_value: '', buttons: ['ok', 'cancel'] })
  await ok(t, { action: 'set_cookie', name: 'flavour', value: 'oat', url: `${t.pages.base}/` })
  const cookies = await ok(t, { action: 'get_cookies', urls: [`${t.pages.base}/`] })
  assert.ok(cookies.cookies.some((c: { name: string; value: string }) => c.name === 'flavour' && c.value === 'oat'))
  await ok(t, { action: 'goto', url: `${t.pages.base}/two` })
  const sent = (await t.pages.requests()).filter((r) => r.url === '/two').at(-1)
  assert.match(String(sent?.headers.cookie), /flavour=oat/)
  await ok(t, { action: 'set_storage', key: 'k', value: 'v' })
  assert.equal(await ok(t, { action: 'get_storage' }), { items: { k: 'v' }, type: 'local' })
})

test('tabs: new_tab becomes the active one, switch_tab and close_tab; console and network logs', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  assert.equal(await ok(t, { action: 'new_tab', url: `${t.pages.base}/two` }), { index: 1, url: `${t.pages.base}/two` })
  assert.equal((await ok(t, { action: 'list_tabs' })).tabs, [{ index: 0, url: `${t.pages.base}/`, active: false }, { index: 1, url: `${t.pages.base}/two`, active: true }])
  assert.match((await ok(t, { action: 'get_text' })).text, /second page/)
  await ok(t, { action: 'switch_tab', index: 0 })
  assert.match((await ok(t, { action: 'get_text' })).text, /Hello world/)
  assert.equal(await ok(t, { action: 'close_tab', index: 1 }), { closed: true, remaining: 1 })
  const last = await t.post({ action: 'close_tab' })
  assert.equal([last.success, last.error], [false, 'cannot close the last tab'])
  const bad = await t.post({ action: 'switch_tab', index: 5 })
  assert.equal(bad.error, 'Invalid tab index: 5')
  await ok(t, { action: 'enable_console_log' })
  await ok(t, { action: 'eval', expression: 'console.warn("careful")' })
  const logged = await ok(t, { action: 'getclear_console_log' })
  assert.equal(logged.log.map((e: { type: string; text: string }) => [e.type, e.text]), [['warning', 'careful']])
  assert.is((await ok(t, { action: 'get_console_log' })).count, 0)
  await ok(t, { action: 'enable_network_log' })
  await ok(t, { action: 'refresh' })
  const net = await ok(t, { action: 'get_network_log' })
  assert.ok(net.log.some((e: { type: string; url: string; status?: number }) => e.type === 'response' && e.url === `${t.pages.base}/` && e.status === 200))
  await ok(t, { action: 'disable_network_log' })
})

test('a page that hangs its main thread loses its tab at the deadline; the replica serves again', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/two` })
  await ok(t, { action: 'eval', expression: 'setTimeout(() => { for (;;) {} }, 0)' })
  const hung = await t.post({ action: 'get_text', timeout: 1.5 })
  assert.equal([hung.success, hung.error], [false, 'get_text: the page did not answer within 1.5 s; its tab was closed'])
  assert.equal(await ok(t, { action: 'goto', url: `${t.pages.base}/two` }), { url: `${t.pages.base}/two`, title: 'Two' })
  assert.match((await ok(t, { action: 'get_text' })).text, /second page/)
})

test('bad requests: unknown action, missing parameters, non-web URLs, a body that is not an object', async () => {
  const unknown = await t.post({ action: 'fly' })
  assert.equal([unknown.success, unknown.error], [false, 'Unknown action: fly'])
  const noUrl = await t.post({ action: 'goto' })
  assert.is(noUrl.success, false)
  assert.match(noUrl.error!, /invalid parameters for goto: url/)
  const file = await t.post({ action: 'goto', url: 'file:///etc/passwd' })
  assert.is(file.success, false)
  assert.match(file.error!, /only http\(s\), data: and about:blank/)
  const notObject = await t.post([1, 2])
  assert.is(notObject.success, false)
  const badTimeout = await t.post({ action: 'wait_for_text', text: 'x', timeout: 'soon' })
  assert.match(badTimeout.error!, /invalid parameters for wait_for_text: timeout/)
})

test.run()
