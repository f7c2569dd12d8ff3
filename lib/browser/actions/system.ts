/**
 * OS-level actions: the pointer and keyboard of the replica's X display
 * (input.ts), at viewport coordinates (those get_interactive_elements gives)
 * mapped to the screen where the page's viewport sits.
 */
import { z } from 'zod'
import type { Page } from 'playwright-core'
import { clickButton, moveMouse, pointerAt, sendKey, typeText, viewportOrigin, wheel, type Point } from '../input.ts'
import { MAX_SCROLL_STEPS } from './backstop.ts'
import { action, coord, seconds, type ActionContext, type ActionDef } from './define.ts'

const duration = z.union([z.number(), z.null()]).optional().transform((d) => (d == null ? null : Math.max(0, Math.min(d, 10))))

/** The active tab, in front (OS input lands on the tab the window shows), and where its viewport starts on the screen. */
async function front(c: ActionContext): Promise<{ page: Page; origin: Point }> {
  const page = await c.page()
  if (c.replica.context.pages().length > 1) await page.bringToFront()
  return { page, origin: await viewportOrigin(page) }
}

async function toScreen(c: ActionContext, x: number, y: number): Promise<Point> {
  const { origin } = await front(c)
  return { x: origin.x + x, y: origin.y + y }
}

/** The pointer is over the page's viewport (wheel events elsewhere scroll nothing). */
async function overViewport(c: ActionContext): Promise<boolean> {
  const { page, origin } = await front(c)
  const at = await pointerAt(c.replica)
  const size = await page.evaluate(() => ({ w: innerWidth, h: innerHeight }))
  return at.x >= origin.x && at.y >= origin.y && at.x < origin.x + size.w && at.y < origin.y + size.h
}

export const systemActions: Record<string, ActionDef> = {
  system_click: action({ x: coord, y: coord, duration }, async (c, a) => {
    await moveMouse(c.replica, await toScreen(c, a.x, a.y), a.duration)
    await clickButton(c.replica)
    return { system_clicked: { x: a.x, y: a.y } }
  }),
  mouse_move: action({ x: coord, y: coord, duration }, async (c, a) => {
    await moveMouse(c.replica, await toScreen(c, a.x, a.y), a.duration)
    return { moved_to: { x: a.x, y: a.y } }
  }),
  // compat: without x and y it clicks where the pointer is; with them it goes there directly (no path).
  mouse_click: action({ x: coord.optional(), y: coord.optional() }, async (c, a) => {
    if ((a.x === undefined) !== (a.y === undefined)) throw new Error('give both x and y, or neither')
    if (a.x !== undefined && a.y !== undefined) await moveMouse(c.replica, await toScreen(c, a.x, a.y), 0)
    await clickButton(c.replica)
    return { clicked_at: a.x === undefined ? 'current' : { x: a.x, y: a.y } }
  }),
  system_type: action({ text: z.string({ error: 'text required' }).min(1, 'text required'), interval: z.number().min(0).max(2).default(0.08) }, async (c, a) => {
    await front(c)
    await typeText(c.replica, a.text, a.interval)
    return { typed_len: [...a.text].length }
  }),
  send_key: action({ key: z.string({ error: 'key required' }).min(1, 'key required') }, async (c, a) => {
    await front(c)
    await sendKey(c.replica, a.key)
    return { send_key: a.key }
  }),
  // compat: mouse wheel notches, negative = down; x, y (viewport) move the pointer there first.
  scroll: action({ amount: z.number().int().min(-100).max(100).default(-3), x: coord.optional(), y: coord.optional() }, async (c, a) => {
    if (a.x !== undefined && a.y !== undefined) await moveMouse(c.replica, await toScreen(c, a.x, a.y))
    else if (!(await overViewport(c))) {
      const size = await (await c.page()).evaluate(() => ({ w: innerWidth, h: innerHeight }))
      await moveMouse(c.replica, await toScreen(c, Math.round(size.w / 2), Math.round(size.h / 2)))
    }
    await wheel(c.replica, a.amount)
    return { scrolled: a.amount }
  }),
  calibrate: action({}, async (c) => {
    const { origin } = await front(c)
    return { window_offset: origin }
  }),
  get_resolution: action({}, async (c) => ({ width: c.replica.screen.width, height: c.replica.screen.height })),
  scroll_to_bottom: action({ delay: seconds(0.4, 5) }, async (c, a) => {
    await (await c.page()).evaluate(async ([ms, max]) => {
      let prev = -1
      for (let i = 0; i < max && scrollY !== prev; i++) {
        prev = scrollY
        scrollBy(0, innerHeight)
        await new Promise((r) => setTimeout(r, ms))
      }
      scrollTo(0, 0)
    }, [a.delay, MAX_SCROLL_STEPS] as const)
    return { scrolled: 'bottom' }
  }),
  scroll_to_bottom_humanized: action({ min_clicks: z.number().int().min(1).max(20).default(2), max_clicks: z.number().int().min(1).max(20).default(6), delay: seconds(0.5, 5) }, async (c, a) => {
    const page = await c.page()
    if (!(await overViewport(c))) {
      const size = await page.evaluate(() => ({ w: innerWidth, h: innerHeight }))
      await moveMouse(c.replica, await toScreen(c, Math.round(size.w / 2), Math.round(size.h / 2)))
    }
    const hi = Math.max(a.min_clicks, a.max_clicks)
    for (let i = 0; i < MAX_SCROLL_STEPS; i++) {
      const before = await page.evaluate(() => scrollY)
      await wheel(c.replica, -(a.min_clicks + Math.floor(Math.random() * (hi - a.min_clicks + 1))))
      await new Promise((r) => setTimeout(r, a.delay * (0.7 + Math.random() * 0.6)))
      if ((await page.evaluate(() => scrollY)) === before) break
    }
    await page.evaluate(() => scrollTo(0, 0))
    return { scrolled: 'bottom_humanized' }
  }),
}
