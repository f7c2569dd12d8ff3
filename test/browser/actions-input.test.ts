/**
 * OS-level input on a real replica: XTest events from xdotool inside the
 * replica's capsule reach the page as trusted events, the pointer along a
 * curved path, keys with a rhythm, at viewport coordinates mapped to the screen.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ok, startBrowserTest, type BrowserTest } from './actions-helpers.ts'

// Records what a person's input would produce: every pointer move, presses, keys with their times, wheel turns.
const PAGE = `<!doctype html><html><head><title>Input</title><style>
  body { margin: 0; height: 4000px }
  #target { position: absolute; left: 600px; top: 400px; width: 120px; height: 60px }
  #hover { position: absolute; left: 100px; top: 500px; width: 100px; height: 100px; background: #ccc }
  #field { position: absolute; left: 100px; top: 300px; width: 300px }
</style></head><body>
<button id="target">Target</button>
<div id="hover"></div>
<form id="f" onsubmit="event.preventDefault(); window.submitted = true"><input id="field" autocomplete="off"></form>
<script>
  window.moves = []; window.keys = []; window.clicks = []; window.entered = false; window.presses = []
  addEventListener('mousemove', (e) => moves.push([e.clientX, e.clientY, e.isTrusted]))
  addEventListener('mousedown', (e) => presses.push(['down', e.timeStamp]))
  addEventListener('mouseup', (e) => presses.push(['up', e.timeStamp]))
  addEventListener('keydown', (e) => keys.push([e.key, e.timeStamp, e.isTrusted]))
  document.getElementById('target').addEventListener('click', (e) => clicks.push([e.clientX, e.clientY, e.isTrusted]))
  document.getElementById('hover').addEventListener('mouseenter', () => { window.entered = true })
</script></body></html>`

let t: BrowserTest
const js = async (expression: string) => (await ok(t, { action: 'eval', expression })).result
/** X events reach the page a moment after xdotool returns: waits (in the page) until the expression holds, then reads it. */
const until = (cond: string, read = cond) =>
  js(`new Promise((done) => { const end = Date.now() + 5000; const f = () => (${cond}) || Date.now() > end ? done(${read}) : setTimeout(f, 20); f() })`)

test.before(async () => {
  t = await startBrowserTest({ '/': PAGE })
})
test.after(async () => {
  await t?.close()
})

test('system_click: a trusted click at the element, reached along a curved path, pressed like a finger', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  await ok(t, { action: 'mouse_move', x: 20, y: 20, duration: 0.1 })
  await js('moves.length = 0')
  const d = await ok(t, { action: 'system_click', x: 660, y: 430, duration: 0.4 })
  assert.equal(d, { system_clicked: { x: 660, y: 430 } })
  const clicks = await until('clicks.length', 'clicks')
  assert.equal(clicks, [[660, 430, true]])
  const moves: Array<[number, number, boolean]> = await js('moves')
  // about 30 steps; Chromium merges the moves of one frame into one event, fewer frames when the machine is busy
  assert.ok(moves.length >= 3, `the pointer moved in steps (${moves.length})`)
  assert.ok(moves.every((m) => m[2]), 'every move is trusted')
  assert.equal(moves.at(-1)!.slice(0, 2), [660, 430])
  // Off the straight line from (20,20) to (660,430): a curve, not a teleport or a ruler.
  const off = Math.max(...moves.map(([x, y]) => Math.abs((430 - 20) * x - (660 - 20) * y + 660 * 20 - 430 * 20) / Math.hypot(410, 640)))
  assert.ok(off > 3, `path bends (${off.toFixed(1)} px off the line)`)
  const presses: Array<[string, number]> = await js('presses')
  assert.equal(presses.map((p) => p[0]), ['down', 'up'])
  assert.ok(presses[1][1] - presses[0][1] >= 30, `held ${presses[1][1] - presses[0][1]} ms`)
})

test('mouse_move hovers without clicking; mouse_click clicks where the pointer is', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  assert.equal(await ok(t, { action: 'mouse_move', x: 150, y: 550 }), { moved_to: { x: 150, y: 550 } })
  assert.is(await until('entered'), true)
  assert.equal(await js('clicks'), [])
  await ok(t, { action: 'mouse_move', x: 610, y: 410, duration: 0.1 })
  assert.equal(await ok(t, { action: 'mouse_click' }), { clicked_at: 'current' })
  assert.equal(await until('clicks.length', 'clicks'), [[610, 410, true]])
  assert.equal(await ok(t, { action: 'mouse_click', x: 700, y: 450 }), { clicked_at: { x: 700, y: 450 } })
  assert.equal(await until('clicks.length === 2', 'clicks.map((c) => c.slice(0, 2))'), [[610, 410], [700, 450]])
})

test('system_type types with real keystrokes at a human, uneven rhythm', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  await ok(t, { action: 'system_click', x: 150, y: 310 })
  const text = 'Hello, World! (a+b) "q" ~x_y'
  assert.equal(await ok(t, { action: 'system_type', text, interval: 0.05 }), { typed_len: text.length })
  assert.is(await until(`document.getElementById("field").value.length >= ${text.length}`, 'document.getElementById("field").value'), text)
  const keys: Array<[string, number, boolean]> = await js('keys.filter((k) => k[0] !== "Shift")')
  assert.is(keys.map((k) => k[0]).join(''), text)
  assert.ok(keys.every((k) => k[2]), 'trusted keys')
  const gaps = keys.slice(1).map((k, i) => k[1] - keys[i][1])
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length
  const spread = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length)
  // interval is press to press: 50 ms on average, a little more after spaces (a loaded machine only adds)
  assert.ok(mean > 35 && mean < 500, `mean gap ${mean.toFixed(0)} ms`)
  assert.ok(spread > 5, `gaps vary (${spread.toFixed(1)} ms)`)
})

test('send_key: names and combinations; an unknown key is an error', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  await ok(t, { action: 'system_click', x: 150, y: 310 })
  await ok(t, { action: 'system_type', text: 'abc', interval: 0.01 })
  await until('document.getElementById("field").value === "abc"')
  assert.equal(await ok(t, { action: 'send_key', key: 'ctrl+a' }), { send_key: 'ctrl+a' })
  await ok(t, { action: 'send_key', key: 'backspace' })
  assert.is(await until('document.getElementById("field").value === ""', 'document.getElementById("field").value'), '')
  await ok(t, { action: 'send_key', key: 'enter' })
  assert.is(await until('window.submitted === true'), true)
  const bad = await t.post({ action: 'send_key', key: 'ctrl+nosuchkey' })
  assert.equal([bad.success, bad.error], [false, 'unknown key: "nosuchkey"'])
})

test('scroll turns the mouse wheel: negative down, positive up', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  assert.equal(await ok(t, { action: 'scroll', amount: -4, x: 300, y: 200 }), { scrolled: -4 })
  const down = await until('scrollY > 100', 'scrollY')
  assert.ok(down > 100, `scrolled down to ${down}`)
  await ok(t, { action: 'scroll', amount: 2 })
  const up = await until(`scrollY < ${down}`, 'scrollY')
  assert.ok(up < down, `scrolled back up (${down} → ${up})`)
})

test('calibrate and get_resolution; points off the screen are refused', async () => {
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  const res = await ok(t, { action: 'get_resolution' })
  const geo = await js('[screen.width, screen.height, outerHeight - innerHeight]')
  assert.equal([res.width, res.height], geo.slice(0, 2))
  const cal = await ok(t, { action: 'calibrate' })
  assert.is(cal.window_offset.y, geo[2], 'the viewport starts below the browser\'s toolbar')
  const off = await t.post({ action: 'system_click', x: 10, y: res.height + 50 })
  assert.is(off.success, false)
  assert.match(off.error!, /outside the screen/)
  const missing = await t.post({ action: 'system_click', x: 10 })
  assert.match(missing.error!, /invalid parameters for system_click: y/)
})

test.run()
