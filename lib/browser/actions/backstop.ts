/**
 * A page that never answers (a script spinning in its main thread) would hold
 * its replica forever: every action gets a deadline past its own timeout, and
 * when it passes, the active tab is closed (Chromium closes even a hung tab at
 * once) so the replica serves again. Actions without a timeout of their own
 * take the request's `timeout` (seconds) or a minute.
 */
import { typingBudgetMs } from '../input.ts'
import type { ActionContext } from './define.ts'

const DEFAULT_MS = 60_000
/** Past an action's own timeout, so its own (clearer) error comes first. */
const GRACE_MS = 30_000
const MAX_MS = 300_000

export class PageHung extends Error {}

/** Scroll-to-bottom actions stop after this many steps. */
export const MAX_SCROLL_STEPS = 200

/** How long an action may take at most, from its parsed arguments (times in ms) and the raw request. */
export function deadlineMs(name: string, args: Record<string, unknown>, raw: Record<string, unknown>): number {
  const n = (k: string) => (typeof args[k] === 'number' ? (args[k] as number) : 0)
  switch (name) {
    case 'sleep':
      return n('duration') + GRACE_MS
    case 'system_type':
      return typingBudgetMs([...String(args.text ?? '')].length, n('interval')) + GRACE_MS
    case 'type':
      return n('timeout') + n('delay') * String(args.text ?? '').length + GRACE_MS
    case 'goto':
    case 'refresh':
      // each attempt, and the doubling delays between them
      return (n('timeout') + n('retry_delay') * 2 ** n('retry_count')) * (1 + n('retry_count')) + GRACE_MS
    case 'screenshot':
    case 'save_screenshot':
      // the capture and the resize each have 30 s (screenshot.ts)
      return 60_000 + GRACE_MS
    case 'scroll_to_bottom':
    case 'scroll_to_bottom_humanized':
      return MAX_SCROLL_STEPS * (n('delay') * 1.3 + 1000) + GRACE_MS
  }
  // Parsed timeouts are milliseconds (define.ts `seconds`); a raw one, on an action without its own, is seconds.
  if (typeof args.timeout === 'number') return args.timeout + GRACE_MS
  if (typeof raw.timeout === 'number' && raw.timeout > 0) return Math.min(raw.timeout * 1000, MAX_MS)
  return DEFAULT_MS
}

export async function withBackstop<T>(c: ActionContext, name: string, ms: number, run: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PageHung(`${name}: the page did not answer within ${Math.round(ms / 100) / 10} s; its tab was closed`)), ms)
  })
  try {
    return await Promise.race([run, late])
  } catch (e) {
    if (e instanceof PageHung) {
      const tab = c.state.active
      c.state.active = null
      await tab?.close({ runBeforeUnload: false }).catch(() => {})
    }
    throw e
  } finally {
    clearTimeout(timer)
  }
}
