/** The browser session around the page: tabs, cookies, web storage, dialogs, network and console logs. */
import { z } from 'zod'
import { action, ActionError, type ActionDef } from './define.ts'
import { webUrl } from './page.ts'

const index = z.number().int().min(0)
const storageType = z.enum(['local', 'session']).default('local')
const sameSite = z.enum(['Strict', 'Lax', 'None'])

function logActions(name: 'network' | 'console'): Record<string, ActionDef> {
  const log = (c: { state: { network: { on: boolean; entries: unknown[] }; console: { on: boolean; entries: unknown[] } } }) => c.state[name]
  return {
    [`enable_${name}_log`]: action({}, async (c) => {
      log(c).on = true
      await c.page() // the active tab is watched from now on
      return { enabled: true }
    }),
    [`disable_${name}_log`]: action({}, async (c) => {
      log(c).on = false
      return { enabled: false }
    }),
    [`get_${name}_log`]: action({}, async (c) => ({ log: [...log(c).entries], count: log(c).entries.length })),
    [`clear_${name}_log`]: action({}, async (c) => {
      log(c).entries.length = 0
      return { cleared: true }
    }),
    [`getclear_${name}_log`]: action({}, async (c) => {
      const entries = log(c).entries.splice(0)
      return { log: entries, count: entries.length }
    }),
  }
}

export const sessionActions: Record<string, ActionDef> = {
  list_tabs: action({}, async (c) => {
    const active = await c.page()
    const tabs = c.replica.context.pages().map((p, i) => ({ index: i, url: p.url(), active: p === active }))
    return { tabs, count: tabs.length }
  }),
  new_tab: action({ url: z.string().optional(), wait_until: z.enum(['domcontentloaded', 'load', 'networkidle', 'commit']).default('domcontentloaded') }, async (c, a) => {
    const url = a.url ? webUrl(a.url) : null
    const page = await c.replica.context.newPage()
    c.state.active = page
    if (url) await page.goto(url, { waitUntil: a.wait_until, timeout: 30_000 })
    return { index: c.replica.context.pages().indexOf(page), url: page.url() }
  }),
  switch_tab: action({ index }, async (c, a) => {
    const page = c.replica.context.pages()[a.index]
    if (!page) throw new ActionError(`Invalid tab index: ${a.index}`)
    c.state.active = page
    await page.bringToFront()
    return { index: a.index, url: page.url() }
  }),
  close_tab: action({ index: index.optional() }, async (c, a) => {
    const pages = c.replica.context.pages()
    if (pages.length <= 1) throw new ActionError('cannot close the last tab')
    const target = a.index === undefined ? await c.page() : pages[a.index]
    if (!target) throw new ActionError(`Invalid tab index: ${a.index}`)
    await target.close()
    const left = c.replica.context.pages()
    c.state.active = left[left.length - 1] ?? null
    await c.state.active?.bringToFront()
    return { closed: true, remaining: left.length }
  }),
  get_cookies: action({ urls: z.array(z.string()).optional() }, async (c, a) => {
    const cookies = await c.replica.context.cookies(a.urls)
    return { cookies, count: cookies.length }
  }),
  set_cookie: action(
    { name: z.string().min(1), value: z.string(), url: z.string().optional(), domain: z.string().optional(), path: z.string().optional(), expires: z.number().optional(), httpOnly: z.boolean().optional(), secure: z.boolean().optional(), sameSite: sameSite.optional() },
    async (c, a) => {
      if (!a.url && !a.domain) throw new ActionError('set_cookie needs url or domain')
      await c.replica.context.addCookies([a.url ? { ...a, domain: undefined, path: undefined } : { ...a, path: a.path ?? '/' }])
      return { set: a.name }
    },
  ),
  delete_cookies: action({}, async (c) => {
    await c.replica.context.clearCookies()
    return { cleared: true }
  }),
  get_storage: action({ type: storageType }, async (c, a) => {
    const items = await (await c.page()).evaluate((t) => ({ ...(t === 'local' ? localStorage : sessionStorage) }), a.type)
    return { items, type: a.type }
  }),
  set_storage: action({ type: storageType, key: z.string().min(1, 'key required'), value: z.string() }, async (c, a) => {
    await (await c.page()).evaluate(([t, k, v]) => (t === 'local' ? localStorage : sessionStorage).setItem(k, v), [a.type, a.key, a.value] as const)
    return { set: a.key, type: a.type }
  }),
  clear_storage: action({ type: storageType }, async (c, a) => {
    await (await c.page()).evaluate((t) => (t === 'local' ? localStorage : sessionStorage).clear(), a.type)
    return { cleared: a.type }
  }),
  handle_dialog: action({ accept: z.boolean().default(true), text: z.string().optional() }, async (c, a) => {
    c.state.nextDialog = { accept: a.accept, text: a.text }
    await c.page() // the active tab's dialogs are answered from now on
    return { configured: c.state.nextDialog }
  }),
  get_last_dialog: action({}, async (c) => ({ dialog: c.state.lastDialog })),
  ...logActions('network'),
  ...logActions('console'),
}
