/**
 * run_script on a real replica: steps or the original's YAML, outputs,
 * on_error stop/continue, the control nodes if/repeat/while and their
 * conditions, and a malformed script refused before anything runs.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { decodePng, ok, startBrowserTest, type BrowserTest } from './actions-helpers.ts'

const HOME = `<!doctype html><html><head><title>Script Page</title></head><body>
<h1>Scripts</h1><div id="banner">Accept cookies <button id="accept" onclick="document.getElementById('banner').remove()">OK</button></div>
<button id="more" onclick="window.loads = (window.loads || 0) + 1; if (window.loads >= 3) this.remove()">Load more</button>
</body></html>`

let t: BrowserTest
let home: string

test.before(async () => {
  t = await startBrowserTest({ '/': HOME, '/two': '<title>Two</title><p>second</p>' })
  home = `${t.pages.base}/`
})
test.after(async () => {
  await t?.close()
})

test('steps run in order on one replica; output_id collects data, a screenshot as a data URL', async () => {
  const d = await ok(t, {
    action: 'run_script',
    name: 'collect',
    steps: [
      { action: 'goto', url: home, wait_until: 'load' },
      { action: 'get_text', output_id: 'text' },
      { action: 'eval', expression: 'document.title', output_id: 'title' },
      { action: 'screenshot', whLargest: 120, output_id: 'shot' },
      { action: 'ping' },
    ],
  })
  assert.equal([d.name, d.success, d.steps_executed, d.steps_total], ['collect', true, 5, 5])
  assert.type(d.duration, 'number')
  assert.equal(d.outputs.title, { result: 'Script Page' })
  assert.match(d.outputs.text.text, /Scripts/)
  assert.match(d.outputs.shot, /^data:image\/png;base64,/)
  assert.is(decodePng(Buffer.from(d.outputs.shot.split(',')[1], 'base64')).width, 120)
  assert.equal(Object.keys(d.outputs).sort(), ['shot', 'text', 'title'])
  assert.equal(d.step_results.map((r: { step: number; action: string; success: boolean }) => [r.step, r.action, r.success]), [[0, 'goto', true], [1, 'get_text', true], [2, 'eval', true], [3, 'screenshot', true], [4, 'ping', true]])
  assert.not.ok('image' in d.step_results[3].data, 'the image is in outputs, not repeated in the log')
})

test('yaml: the original\'s script format, its name and on_error', async () => {
  const yaml = `name: from yaml\non_error: continue\nsteps:\n  - action: goto\n    url: ${home}\n  - action: wait_for_element\n    selector: "#nope"\n    timeout: 0.2\n  - action: eval\n    expression: document.title\n    output_id: title\n`
  const d = await ok(t, { action: 'run_script', yaml })
  assert.equal([d.name, d.success, d.steps_executed, d.steps_total], ['from yaml', false, 3, 3])
  assert.equal(d.outputs, { title: { result: 'Script Page' } })
  assert.is(d.step_results[1].success, false)
  assert.match(d.step_results[1].error, /Timeout/)
})

test('on_error stop halts at the first failure; the request itself still succeeds', async () => {
  const a = await t.post({ action: 'run_script', steps: [{ action: 'ping' }, { action: 'wait_for_element', selector: '#nope', timeout: 0.2 }, { action: 'ping', output_id: 'after' }] })
  assert.is(a.success, true)
  assert.equal([a.data.success, a.data.steps_executed, a.data.steps_total], [false, 2, 3])
  assert.equal(a.data.outputs, {})
})

test('if with then/else, repeat, while with its bound, output and composite conditions', async () => {
  const d = await ok(t, {
    action: 'run_script',
    steps: [
      { action: 'goto', url: home },
      { if: { condition: { type: 'element', selector: '#banner', state: 'visible' }, then: [{ action: 'click', selector: '#accept' }], else: [{ action: 'eval', expression: '"no banner"', output_id: 'else_ran' }] } },
      { if: { condition: { type: 'element', selector: '#banner', state: 'detached' }, then: [{ action: 'eval', expression: '"gone"', output_id: 'banner' }] } },
      { repeat: { count: 3, steps: [{ action: 'eval', expression: 'window.n = (window.n || 0) + 1', output_id: 'n' }] } },
      { while: { condition: { type: 'text', text: 'Load more' }, max_iterations: 5, steps: [{ action: 'click', selector: '#more' }] } },
      { if: { condition: { type: 'all', conditions: [{ type: 'output', output_id: 'n', path: ['result'], equals: 3 }, { type: 'not', condition: { type: 'output', output_id: 'else_ran', exists: true } }, { type: 'url', matches: '*://*/' }, { type: 'javascript', expression: 'window.loads === 3' }] }, then: [{ action: 'eval', expression: '"all held"', output_id: 'verdict' }], else: [{ action: 'eval', expression: '"not all"', output_id: 'verdict' }] } },
    ],
  })
  assert.is(d.success, true, JSON.stringify(d.step_results))
  assert.equal(d.outputs.banner, { result: 'gone' })
  assert.equal(d.outputs.n, { result: 3 })
  assert.equal(d.outputs.verdict, { result: 'all held' })
  assert.not.ok('else_ran' in d.outputs)
  assert.equal([d.step_results[1].control, d.step_results[1].data.branch], ['if', 'then'])
  assert.is(d.step_results[3].data.iterations.length, 3)
  assert.is(d.step_results[4].data.iterations.length, 3, 'the while body ran until the button was gone')
  assert.equal(d.steps_executed, 6)
})

test('a while still true after max_iterations fails its step; a condition timeout polls', async () => {
  const d = await ok(t, {
    action: 'run_script',
    steps: [
      { action: 'goto', url: home },
      { action: 'eval', expression: 'setTimeout(() => document.title = "Later", 300)' },
      { if: { condition: { type: 'javascript', expression: 'document.title === "Later"', timeout: 5 }, then: [{ action: 'eval', expression: '1', output_id: 'waited' }] } },
      { while: { condition: { type: 'element', selector: 'h1' }, max_iterations: 2, steps: [{ action: 'ping' }] } },
      { action: 'ping', output_id: 'not_reached' },
    ],
  })
  assert.equal(d.outputs.waited, { result: 1 })
  assert.is(d.success, false)
  assert.is(d.step_results[3].success, false)
  assert.match(d.step_results[3].error, /still true after 2 iterations/)
  assert.is(d.steps_executed, 4)
  assert.not.ok('not_reached' in d.outputs)
})

test('a malformed script is refused before its first step runs', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ action: 'run_script' }, /steps or yaml required/],
    [{ action: 'run_script', steps: [{ action: 'goto', url: `${t.pages.base}/two` }, { repeat: { count: 0, steps: [{ action: 'ping' }] } }] }, /repeat count must be an integer from 1 to 100/],
    [{ action: 'run_script', steps: [{ while: { condition: { type: 'text', text: 'x' }, steps: [] } }] }, /max_iterations is required/],
    [{ action: 'run_script', steps: [{ if: { condition: { type: 'colour' }, then: [] } }] }, /unknown condition type "colour"/],
    [{ action: 'run_script', steps: [{ if: { condition: { type: 'text', text: 'a' }, then: [] }, action: 'ping' }] }, /cannot carry other fields/],
    [{ action: 'run_script', steps: [{ url: 'x' }] }, /action required/],
    [{ action: 'run_script', yaml: 'steps: [unclosed' }, /invalid YAML/],
    [{ action: 'run_script', yaml: 'name: x' }, /YAML missing steps/],
    [{ action: 'run_script', steps: [{ action: 'ping' }], on_error: 'explode' }, /on_error must be/],
  ]
  const before = (await t.pages.requests()).filter((r) => r.url === '/two').length
  for (const [body, err] of cases) {
    const a = await t.post(body)
    assert.is(a.success, false, JSON.stringify(body))
    assert.match(a.error!, err)
  }
  assert.is((await t.pages.requests()).filter((r) => r.url === '/two').length, before, 'nothing ran')
})

test.run()
