/**
 * Screenshots of a real replica: GET /screenshot/browser and /desktop as PNG
 * (decoded here with pngjs, a decoder independent of the ImageMagick that
 * resizes them), the original's resize parameters, and the screenshot action.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { decodePng, ok, startBrowserTest, type BrowserTest } from './actions-helpers.ts'

// Left half red, right half blue, a green square at the viewport's top-left corner.
const PAGE = `<!doctype html><html><head><title>Colours</title><style>
  html, body { margin: 0; height: 100% }
  body { background: linear-gradient(to right, #ff0000 50%, #0000ff 50%) }
  #corner { position: fixed; left: 0; top: 0; width: 40px; height: 40px; background: #00ff00 }
</style></head><body><div id="corner"></div></body></html>`

let t: BrowserTest
let viewport: { w: number; h: number }
let screen: { width: number; height: number }

const near = (got: [number, number, number], want: [number, number, number], what: string) =>
  assert.ok(got.every((v, i) => Math.abs(v - want[i]) <= 40), `${what}: ${got} is not about ${want}`)

test.before(async () => {
  t = await startBrowserTest({ '/': PAGE })
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  const v = (await ok(t, { action: 'eval', expression: '[innerWidth, innerHeight]' })).result
  viewport = { w: v[0], h: v[1] }
  screen = await ok(t, { action: 'get_resolution' })
})
test.after(async () => {
  await t?.close()
})

test('GET /screenshot/browser: the viewport as PNG, pixels where the page put them', async () => {
  const r = await t.shot('browser')
  assert.is(r.status, 200)
  assert.is(r.type, 'image/png')
  const png = decodePng(r.body)
  assert.equal([png.width, png.height], [viewport.w, viewport.h])
  near(png.pixel(10, 10), [0, 255, 0], 'corner')
  near(png.pixel(Math.floor(viewport.w / 4), Math.floor(viewport.h / 2)), [255, 0, 0], 'left half')
  near(png.pixel(Math.floor((viewport.w * 3) / 4), Math.floor(viewport.h / 2)), [0, 0, 255], 'right half')
})

test('resize: whLargest keeps the aspect ratio, width or height alone too, both force the size', async () => {
  const big = decodePng((await t.shot('browser', 'whLargest=200')).body)
  assert.equal([big.width, big.height], [200, Math.floor((viewport.h * 200) / viewport.w)])
  near(big.pixel(1, 1), [0, 255, 0], 'corner after resize')
  near(big.pixel(150, Math.floor(big.height / 2)), [0, 0, 255], 'right half after resize')
  const wide = decodePng((await t.shot('browser', 'width=300')).body)
  assert.equal([wide.width, wide.height], [300, Math.floor((viewport.h * 300) / viewport.w)])
  const tall = decodePng((await t.shot('browser', 'height=90')).body)
  assert.equal([tall.width, tall.height], [Math.floor((viewport.w * 90) / viewport.h), 90])
  const forced = decodePng((await t.shot('browser', 'width=64&height=64')).body)
  assert.equal([forced.width, forced.height], [64, 64])
})

test('GET /screenshot/desktop: the whole X screen, the page in it below the browser\'s toolbar', async () => {
  const r = await t.shot('desktop')
  assert.is(r.status, 200)
  assert.is(r.type, 'image/png')
  const png = decodePng(r.body)
  assert.equal([png.width, png.height], [screen.width, screen.height])
  const { window_offset: o } = await ok(t, { action: 'calibrate' })
  near(png.pixel(o.x + 10, o.y + 10), [0, 255, 0], 'corner on the desktop')
  near(png.pixel(o.x + Math.floor(viewport.w / 4), o.y + Math.floor(viewport.h / 2)), [255, 0, 0], 'left half on the desktop')
  const small = decodePng((await t.shot('desktop', 'whLargest=320')).body)
  assert.equal(small.width, 320)
})

test('bad resize parameters are a 400', async () => {
  for (const q of ['width=0', 'whLargest=abc', 'height=99999', 'width=-3']) {
    const r = await t.shot('browser', q)
    assert.is(r.status, 400, q)
    const body = JSON.parse(r.body.toString())
    assert.is(body.success, false)
    assert.match(body.error, /whole number of pixels/)
  }
})

test('the screenshot action answers the PNG as a data URL with its size', async () => {
  const d = await ok(t, { action: 'screenshot', whLargest: 100 })
  assert.is(d.type, 'browser')
  assert.match(d.image, /^data:image\/png;base64,/)
  const png = decodePng(Buffer.from(d.image.slice('data:image/png;base64,'.length), 'base64'))
  assert.equal([d.width, d.height], [png.width, png.height])
  assert.is(png.width, 100)
  assert.is(d.size, Buffer.from(d.image.split(',')[1], 'base64').length)
  const desk = await ok(t, { action: 'save_screenshot', type: 'desktop', width: 50, height: 20 })
  assert.equal([desk.type, desk.width, desk.height], ['desktop', 50, 20])
  const bad = await t.post({ action: 'screenshot', width: 'huge' })
  assert.is(bad.success, false)
})

test.run()
