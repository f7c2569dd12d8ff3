/**
 * DOM actions through Playwright (fast, but the page can tell: no pointer
 * path, no key rhythm) and waits on the page's state. Selectors are CSS or
 * `xpath=...`, as Playwright reads them.
 */
import { z } from 'zod'
import { action, seconds, selector, type ActionDef } from './define.ts'

const state = z.enum(['visible', 'hidden', 'attached', 'detached']).default('visible')

export const domActions: Record<string, ActionDef> = {
  click: action({ selector, timeout: seconds(30, 120) }, async (c, a) => {
    await (await c.page()).click(a.selector, { timeout: a.timeout })
    return { clicked: a.selector }
  }),
  fill: action({ selector, value: z.string({ error: 'value required' }), timeout: seconds(30, 120) }, async (c, a) => {
    await (await c.page()).fill(a.selector, a.value, { timeout: a.timeout })
    return { filled: a.selector }
  }),
  // compat: delay in seconds between keys, 0.05 by default.
  type: action({ selector, text: z.string({ error: 'text required' }), delay: seconds(0.05, 5), timeout: seconds(30, 120) }, async (c, a) => {
    await (await c.page()).locator(a.selector).first().pressSequentially(a.text, { delay: a.delay, timeout: a.timeout + a.delay * a.text.length })
    return { typed: a.selector }
  }),
  wait_for_element: action({ selector, state, timeout: seconds(30, 300) }, async (c, a) => {
    await (await c.page()).waitForSelector(a.selector, { state: a.state, timeout: a.timeout })
    return { selector: a.selector, state: a.state }
  }),
  wait_for_text: action({ text: z.string({ error: 'text required' }).min(1, 'text required'), timeout: seconds(30, 300) }, async (c, a) => {
    await (await c.page()).waitForFunction((t) => document.body?.innerText.includes(t) ?? false, a.text, { timeout: a.timeout, polling: 100 })
    return { text: a.text, found: true }
  }),
  // compat: a glob where * stops at "/" and ** does not (Playwright's URL globs).
  wait_for_url: action({ url: z.string({ error: 'url required' }).min(1, 'url required'), timeout: seconds(30, 300) }, async (c, a) => {
    const page = await c.page()
    await page.waitForURL(a.url, { timeout: a.timeout })
    return { url: page.url() }
  }),
  wait_for_network_idle: action({ timeout: seconds(30, 300) }, async (c, a) => {
    await (await c.page()).waitForLoadState('networkidle', { timeout: a.timeout })
    return { idle: true }
  }),
}
