/**
 * browser.proxy: every replica browses through the configured upstream proxy.
 * The proxy here is the test's page server, which answers absolute-form
 * requests as a forward proxy would see them; the host name the page asks for
 * exists nowhere else.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ok, startBrowserTest, type BrowserTest } from './actions-helpers.ts'

let t: BrowserTest

test.before(async () => {
  t = await startBrowserTest({ '/': '<title>Via proxy</title><p>proxied page</p>' }, (pages) => ({ 'browser.proxy': pages.base }))
})
test.after(async () => {
  await t?.close()
})

test('pages are fetched through the proxy', async () => {
  assert.equal(await ok(t, { action: 'goto', url: 'http://shop.nowhere.test/' }), { url: 'http://shop.nowhere.test/', title: 'Via proxy' })
  assert.match((await ok(t, { action: 'get_text' })).text, /proxied page/)
  const seen = await t.pages.requests()
  const req = seen.find((r) => r.url === 'http://shop.nowhere.test/')
  assert.ok(req, `the proxy saw the absolute-form request: ${JSON.stringify(seen.map((r) => r.url))}`)
  assert.is(req!.headers.host, 'shop.nowhere.test')
})

test.run()
