/**
 * Stealth of a real replica against the common detection checks, run by a page
 * this test serves: navigator.webdriver, the user agent (no HeadlessChrome,
 * the same in JS and on the wire), languages and time zone from the
 * configuration, plugins and window.chrome, a real window and screen, a WebGL
 * vendor that is not the software renderer, patched functions that still look
 * native; and the same fingerprint for the same profile after a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ok, startBrowserTest, type BrowserTest } from './actions-helpers.ts'

const DETECT = `<!doctype html><html><head><title>Detect</title></head><body><script>
window.detect = async () => {
  const gl = document.createElement('canvas').getContext('webgl')
  const ext = gl && gl.getExtension('WEBGL_debug_renderer_info')
  const perm = await navigator.permissions.query({ name: 'notifications' })
  return {
    webdriver: navigator.webdriver,
    webdriverInProto: Object.getOwnPropertyDescriptor(Navigator.prototype, 'webdriver')?.get?.call(navigator),
    ua: navigator.userAgent,
    appVersion: navigator.appVersion,
    platform: navigator.platform,
    languages: navigator.languages,
    language: navigator.language,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    offset: new Date('2026-01-15T12:00:00Z').getTimezoneOffset(),
    plugins: navigator.plugins.length,
    mimeTypes: navigator.mimeTypes.length,
    chrome: typeof window.chrome === 'object' && window.chrome !== null,
    outer: [outerWidth, outerHeight],
    inner: [innerWidth, innerHeight],
    screen: [screen.width, screen.height, screen.availWidth, screen.availHeight, screen.colorDepth],
    webglVendor: ext ? gl.getParameter(ext.UNMASKED_VENDOR_WEBGL) : null,
    webglRenderer: ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : null,
    getParameterNative: gl ? /\\{\\s*\\[native code\\]\\s*\\}/.test(gl.getParameter.toString()) && Function.prototype.toString.toString().includes('[native code]') : false,
    notification: [Notification.permission, perm.state],
    cdcKeys: Object.keys(window).concat(Object.keys(document)).filter((k) => /cdc_|\\$wdc_|__webdriver|__selenium|__playwright|__pw/.test(k)),
    hardwareConcurrency: navigator.hardwareConcurrency,
  }
}
</script><p>detector</p></body></html>`

let t: BrowserTest | undefined
const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-stealth-'))
let first: Record<string, any>

const detect = async () => (await ok(t!, { action: 'eval', expression: 'window.detect()' })).result as Record<string, any>

test.before(async () => {
  t = await startBrowserTest({ '/': DETECT }, { 'browser.locale': 'de-DE', 'browser.timezone': 'Asia/Tokyo' }, { dataDir })
  await ok(t, { action: 'goto', url: `${t.pages.base}/` })
  first = await detect()
})
test.after(async () => {
  await t?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

test('not an automated browser: webdriver false, no HeadlessChrome, plugins, window.chrome, no driver globals', () => {
  assert.is(first.webdriver, false)
  assert.is(first.webdriverInProto, false)
  assert.not.match(first.ua, /Headless/i)
  assert.match(first.ua, /^Mozilla\/5\.0 \(X11; Linux x86_64\) AppleWebKit\/537\.36 \(KHTML, like Gecko\) Chrome\/\d+\.0\.0\.0 Safari\/537\.36$/)
  assert.not.match(first.appVersion, /Headless/i)
  assert.is(first.platform, 'Linux x86_64')
  assert.ok(first.plugins > 0, 'a real browser lists its PDF viewer plugins')
  assert.ok(first.mimeTypes > 0)
  assert.is(first.chrome, true)
  assert.equal(first.cdcKeys, [])
  // Headless Chrome answers "denied" with a "prompt" permission state; a person's browser agrees with itself.
  assert.ok(!(first.notification[0] === 'denied' && first.notification[1] === 'prompt'), String(first.notification))
})

test('the user agent and languages on the wire are those the page sees', async () => {
  const req = (await t!.pages.requests()).filter((r) => r.url === '/').at(-1)!
  assert.is(req.headers['user-agent'], first.ua)
  assert.match(String(req.headers['accept-language']), /^de-DE,de;q=0\.9/)
  assert.equal(first.languages, ['de-DE', 'de'])
  assert.is(first.language, 'de-DE')
})

test('time zone from the configuration', () => {
  assert.is(first.timezone, 'Asia/Tokyo')
  assert.is(first.offset, -540)
})

test('no infobar (automation or unsupported flag): above the page only the tab strip and toolbar', () => {
  // Chromium's top chrome is 87 px here; an infobar adds about 56 px more.
  const top = first.outer[1] - first.inner[1]
  assert.ok(top > 40 && top < 120, `top chrome ${top} px`)
})

test('a real window on a real screen', async () => {
  const res = await ok(t!, { action: 'get_resolution' })
  assert.equal(first.screen.slice(0, 2), [res.width, res.height])
  assert.is(first.screen[4], 24)
  assert.ok(first.outer[0] > 0 && first.outer[1] > first.inner[1], `outer ${first.outer} wraps inner ${first.inner}`)
})

test('WebGL names a desktop GPU, not the software renderer, and the patch looks native', () => {
  assert.type(first.webglVendor, 'string')
  assert.not.match(first.webglVendor, /SwiftShader|Google Inc\. \(Google\)|Brian Paul|Mesa\/X\.org/)
  assert.not.match(first.webglRenderer, /SwiftShader|llvmpipe|Software/i)
  assert.match(first.webglRenderer, /^ANGLE \(/)
  assert.is(first.getParameterNative, true)
})

test('the same profile keeps its fingerprint across a restart of nestbox and its replica', async () => {
  const pages = t!.pages
  await t!.nb.close()
  t = await startBrowserTest({}, { 'browser.locale': 'de-DE', 'browser.timezone': 'Asia/Tokyo' }, { pages, dataDir })
  try {
    await ok(t, { action: 'goto', url: `${pages.base}/` })
    const again = await detect()
    for (const k of ['ua', 'platform', 'languages', 'timezone', 'screen', 'webglVendor', 'webglRenderer', 'outer']) assert.equal(again[k], first[k], k)
  } finally {
    await t.close()
    pages.close()
    t = undefined
  }
})

test.run()
