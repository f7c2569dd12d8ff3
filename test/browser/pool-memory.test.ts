/**
 * A long run of navigations in one replica at the default 256 MiB: the tab's
 * renderer grows with garbage from each one, and unless the pool keeps it
 * collecting (V8's heap capped to the capsule, a full collection past 60% of
 * it) the page is OOM-killed at the limit (issue 18's bench). Every navigation
 * must be answered, on the same replica, in the same tab, cookies kept.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { TestNestbox } from '../harness.ts'
import type { PageServer } from './pages.ts'
import { client, startPoolWithPages } from './pool-helpers.ts'

let nb: TestNestbox
let token: string
let pages: PageServer
let close = async () => {}

test.before(async () => {
  ;({ nb, token, pages, close } = await startPoolWithPages({
    // each page keeps a few MiB of strings alive while it is shown
    '/': '<html><body><p>page</p><script>window.keep = Array.from({ length: 40000 }, (_, i) => "x".repeat(64) + i)</script></body></html>',
    '/set': { body: '<html><body>set</body></html>', headers: { 'set-cookie': 'kept=yes; Path=/; Max-Age=3600' } },
  }, { 'browser.replicas': 1 }))
})
test.after(() => close())

test('120 navigations in one replica at 256 MiB are all answered in the same tab, cookies kept', async () => {
  const c = client(nb, token)
  const first = await c.post({ action: 'goto', url: `${pages.base}/set` })
  assert.ok(first.body.success, JSON.stringify(first.body))
  const replica = c.instance
  for (let i = 0; i < 120; i++) {
    const go = await c.post({ action: 'goto', url: `${pages.base}/?i=${i}` })
    assert.ok(go.status === 200 && go.body.success, `navigation ${i}: ${go.status} ${JSON.stringify(go.body).slice(0, 300)}`)
    const text = await c.post({ action: 'get_text' })
    assert.ok(text.body.success, `get_text ${i}: ${JSON.stringify(text.body).slice(0, 300)}`)
    assert.is(text.body.data.text.trim(), 'page')
  }
  assert.is(c.instance, replica, 'no replica was replaced')
  // the same tab all along: its history is full (Chromium keeps 50 entries), where a fresh tab's would hold one or two
  const depth = await c.post({ action: 'eval', expression: 'history.length' })
  assert.ok(depth.body.success && depth.body.data.result === 50, JSON.stringify(depth.body))
  const cookies = await c.post({ action: 'get_cookies' })
  assert.ok(cookies.body.data.cookies.some((k: { name: string; value: string }) => k.name === 'kept' && k.value === 'yes'), JSON.stringify(cookies.body))
})

test.run()
