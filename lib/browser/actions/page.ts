/** Navigation and reading the page: goto, refresh, ping, get_text, get_html, get_page_info, get_interactive_elements, eval. */
import { z } from 'zod'
import type { Page } from 'playwright-core'
import { action, ActionError, seconds, type ActionDef } from './define.ts'

/** compat(stealthy-auto-browse 000): get_text answers at most this many characters (and the full length). */
const MAX_TEXT = 10_000

const waitUntil = z.enum(['domcontentloaded', 'load', 'networkidle', 'commit']).default('domcontentloaded')

/** Only web pages: file:, chrome: and the like would read the replica's own files and settings. */
export function webUrl(raw: string): string {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new ActionError(`invalid URL: ${raw}`)
  }
  if (u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'data:' || u.href === 'about:blank') return u.href
  throw new ActionError(`only http(s), data: and about:blank URLs can be opened, not ${u.protocol}`)
}

const isTimeout = (e: unknown) => e instanceof Error && e.name === 'TimeoutError'

/** compat: a navigation that times out is tried again retry_count times, the delay doubling each time. */
async function navigate(go: () => Promise<unknown>, retries: number, delayMs: number) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await go()
    } catch (e) {
      if (!isTimeout(e) || attempt >= retries) throw e
      await new Promise((r) => setTimeout(r, delayMs * 2 ** attempt))
    }
  }
}

const where = async (page: Page) => ({ url: page.url(), title: await page.title() })

// Runs in the page: every element a person could interact with, its viewport centre and a selector that finds it again.
function collectInteractive(visibleOnly: boolean) {
  const query = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [role=link], [role=checkbox], [role=tab], [role=menuitem], [onclick], [contenteditable=""], [contenteditable=true], [tabindex]:not([tabindex="-1"])'
  const cssPath = (el: Element): string => {
    if (el.id && document.querySelectorAll('#' + CSS.escape(el.id)).length === 1) return '#' + CSS.escape(el.id)
    const parts: string[] = []
    for (let e: Element | null = el; e && e !== document.documentElement; e = e.parentElement) {
      if (e.id && document.querySelectorAll('#' + CSS.escape(e.id)).length === 1) {
        parts.unshift('#' + CSS.escape(e.id))
        break
      }
      const tag = e.tagName.toLowerCase()
      const same = e.parentElement ? [...e.parentElement.children].filter((c) => c.tagName === e!.tagName) : []
      parts.unshift(same.length > 1 ? `${tag}:nth-of-type(${same.indexOf(e) + 1})` : tag)
    }
    return parts.join(' > ')
  }
  const out = []
  for (const el of document.querySelectorAll(query)) {
    const r = el.getBoundingClientRect()
    const st = getComputedStyle(el)
    const visible = r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && st.display !== 'none' && Number(st.opacity) > 0 &&
      r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth
    if (visibleOnly && !visible) continue
    const h = el as HTMLElement & { value?: unknown; placeholder?: string }
    const text = (h.innerText || (typeof h.value === 'string' ? h.value : '') || h.placeholder || el.getAttribute('aria-label') || el.getAttribute('title') || '').trim().replace(/\s+/g, ' ')
    out.push({ i: out.length, tag: el.tagName.toLowerCase(), id: el.id || null, text: text.slice(0, 60), selector: cssPath(el),
      x: Math.round(r.left + r.width / 2), y: Math.round(r.top + r.height / 2), w: Math.round(r.width), h: Math.round(r.height), visible })
  }
  return out
}

export const pageActions: Record<string, ActionDef> = {
  goto: action(
    {
      url: z.string({ error: 'url required' }).min(1, 'url required'),
      wait_until: waitUntil,
      referer: z.string().optional(),
      timeout: seconds(30, 120),
      retry_count: z.number().int().min(0).max(2).default(1),
      retry_delay: seconds(1, 10),
    },
    async (c, a) => {
      const url = webUrl(a.url)
      const page = await c.page()
      await navigate(() => page.goto(url, { waitUntil: a.wait_until, timeout: a.timeout, referer: a.referer }), a.retry_count, a.retry_delay)
      return where(page)
    },
  ),
  refresh: action({ wait_until: waitUntil, timeout: seconds(30, 120), retry_count: z.number().int().min(0).max(2).default(1), retry_delay: seconds(1, 10) }, async (c, a) => {
    const page = await c.page()
    await navigate(() => page.reload({ waitUntil: a.wait_until, timeout: a.timeout }), a.retry_count, a.retry_delay)
    return where(page)
  }),
  ping: action({}, async (c) => ({ message: 'pong', url: (await c.page()).url() })),
  get_text: action({}, async (c) => {
    const text = await (await c.page()).evaluate(() => document.body?.innerText ?? '')
    return { text: text.slice(0, MAX_TEXT), length: text.length }
  }),
  get_html: action({}, async (c) => {
    const html = await (await c.page()).content()
    return { html, length: html.length }
  }),
  get_page_info: action({}, async (c) => {
    const page = await c.page()
    const info = await page.evaluate(() => ({
      ready_state: document.readyState,
      viewport: { width: innerWidth, height: innerHeight },
      document: { width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight },
      scroll: { x: scrollX, y: scrollY },
    }))
    return { ...(await where(page)), ...info }
  }),
  get_interactive_elements: action({ visible_only: z.boolean().default(true) }, async (c, a) => {
    const elements = await (await c.page()).evaluate(collectInteractive, a.visible_only)
    return { count: elements.length, elements }
  }),
  // A promise the page never settles would hold the replica: the answer gives up after `timeout` (seconds, 30 by default).
  eval: action({ expression: z.string({ error: 'expression required' }).min(1, 'expression required'), timeout: seconds(30, 300) }, async (c, a) => {
    const page = await c.page()
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new ActionError(`eval: no result within ${a.timeout} ms`)), a.timeout)))
    try {
      const result = await Promise.race([page.evaluate(a.expression), late])
      return { result: result === undefined ? null : result }
    } finally {
      clearTimeout(timer)
    }
  }),
}
