/**
 * browser.shareCookies (the original's cluster mode): a cookie a page sets on
 * one replica is there on the other replica's next request, and so is its
 * removal; without the option each replica keeps its own (pool-queue.test.ts).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { TestNestbox } from '../harness.ts'
import type { PageServer } from './pages.ts'
import { client, startPoolWithPages, status, until } from './pool-helpers.ts'

let nb: TestNestbox
let token: string
let pages: PageServer
let close = async () => {}

test.before(async () => {
  ;({ nb, token, pages, close } = await startPoolWithPages({
    '/set': { body: '<html><body>set</body></html>', headers: { 'set-cookie': 'shared=yes; Path=/; Max-Age=3600' } },
    '/clear': { body: '<html><body>clear</body></html>', headers: { 'set-cookie': 'shared=; Path=/; Max-Age=0' } },
    '/echo': '<html><body><script>document.write(document.cookie || "none")</script></body></html>',
  }, { 'browser.replicas': 2, 'browser.shareCookies': true }))
})
test.after(() => close())

test('a cookie set on one replica reaches the other, and so does its removal', async () => {
  const [a, b] = [client(nb, token), client(nb, token)]
  // two requests at once start both replicas; then each client is stuck to one of them
  await Promise.all([a.post({ action: 'sleep', duration: 0.5 }), b.post({ action: 'sleep', duration: 0.5 })])
  const [r1, r2] = (await until(async () => ((await status(nb)).running === 2 ? status(nb) : null), 60_000, 'two replicas')).replicas
  a.instance = r1.id
  b.instance = r2.id
  assert.is((await b.post({ action: 'goto', url: `${pages.base}/echo` })).body.success, true)
  assert.is((await b.post({ action: 'get_text' })).body.data.text, 'none')
  assert.is((await a.post({ action: 'goto', url: `${pages.base}/set` })).body.success, true)
  const seen = await b.post({ action: 'goto', url: `${pages.base}/echo` })
  assert.is(seen.instance, b.instance, 'still the other replica')
  assert.is((await b.post({ action: 'get_text' })).body.data.text, 'shared=yes')
  await a.post({ action: 'goto', url: `${pages.base}/clear` })
  await b.post({ action: 'goto', url: `${pages.base}/echo` })
  assert.is((await b.post({ action: 'get_text' })).body.data.text, 'none')
})

test.run()
