/**
 * Conditions of run_script's `if` and `while` nodes. compat(stealthy-auto-browse
 * 000): types element, text, url, javascript, output, all, any, not; an outer
 * `timeout` (seconds, ≤ 60) polls until the condition holds.
 */
import { isDeepStrictEqual } from 'node:util'
import type { Page } from 'playwright-core'
import { ActionError } from './actions/define.ts'

export type Condition = Record<string, unknown> & { type: string }

const MAX_TIMEOUT_S = 60
const POLL_MS = 100
const STATES = ['visible', 'hidden', 'attached', 'detached']

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (c: Record<string, unknown>, k: string, at: string) => {
  if (typeof c[k] !== 'string' || !c[k]) throw new ActionError(`${at}: ${c.type} condition needs ${k}`)
}

/** Checks a condition's shape before the script runs. */
export function checkCondition(c: unknown, at: string, depth: number, outer = true): void {
  if (depth > 8) throw new ActionError(`${at}: conditions nest deeper than 8 levels`)
  if (!isObj(c) || typeof c.type !== 'string') throw new ActionError(`${at} must be a mapping with a type`)
  if (c.timeout !== undefined) {
    if (!outer) throw new ActionError(`${at}: timeout belongs only on the outer condition`)
    if (typeof c.timeout !== 'number' || c.timeout < 0 || c.timeout > MAX_TIMEOUT_S) throw new ActionError(`${at}: timeout must be 0 to ${MAX_TIMEOUT_S} seconds`)
  }
  switch (c.type) {
    case 'element':
      str(c, 'selector', at)
      if (c.state !== undefined && !STATES.includes(c.state as string)) throw new ActionError(`${at}: state must be one of ${STATES.join(', ')}`)
      return
    case 'text':
      return str(c, 'text', at)
    case 'url':
      return str(c, 'matches', at)
    case 'javascript':
      return str(c, 'expression', at)
    case 'output':
      str(c, 'output_id', at)
      if (('equals' in c) === ('exists' in c)) throw new ActionError(`${at}: output condition needs exactly one of equals or exists`)
      if ('exists' in c && typeof c.exists !== 'boolean') throw new ActionError(`${at}: exists must be true or false`)
      if (c.path !== undefined && (!Array.isArray(c.path) || c.path.some((p) => typeof p !== 'string' && typeof p !== 'number'))) throw new ActionError(`${at}: path must be a list of keys and indexes`)
      return
    case 'all':
    case 'any':
      if (!Array.isArray(c.conditions) || c.conditions.length === 0) throw new ActionError(`${at}: ${c.type} condition needs a non-empty conditions list`)
      c.conditions.forEach((n, i) => checkCondition(n, `${at}.conditions[${i}]`, depth + 1, false))
      return
    case 'not':
      return checkCondition(c.condition, `${at}.condition`, depth + 1, false)
    default:
      throw new ActionError(`${at}: unknown condition type "${c.type}"`)
  }
}

/** fnmatch-style: * any run of characters, ? one. */
function glob(pattern: string): RegExp {
  return new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$')
}

async function once(page: () => Promise<Page>, c: Condition, outputs: Record<string, unknown>): Promise<boolean> {
  switch (c.type) {
    case 'element': {
      const el = (await page()).locator(c.selector as string).first()
      const state = (c.state as string | undefined) ?? 'visible'
      if (state === 'attached' || state === 'detached') return ((await el.count()) > 0) === (state === 'attached')
      return (await el.isVisible()) === (state === 'visible')
    }
    case 'text':
      return (await (await page()).evaluate(() => document.body?.innerText ?? '')).includes(c.text as string)
    case 'url':
      return glob(c.matches as string).test((await page()).url())
    case 'javascript': {
      const v = await (await page()).evaluate(c.expression as string)
      if (typeof v !== 'boolean') throw new Error(`javascript condition gave ${v === undefined ? 'undefined' : typeof v}, not a boolean`)
      return v
    }
    case 'output': {
      const has = Object.hasOwn(outputs, c.output_id as string)
      let v: unknown = outputs[c.output_id as string]
      let found = has
      for (const k of (c.path as Array<string | number> | undefined) ?? []) {
        if (!found || typeof v !== 'object' || v === null || !Object.hasOwn(v, k)) {
          found = false
          break
        }
        v = (v as Record<string | number, unknown>)[k]
      }
      return 'exists' in c ? found === c.exists : found && isDeepStrictEqual(v, c.equals)
    }
    case 'all':
      for (const n of c.conditions as Condition[]) if (!(await once(page, n, outputs))) return false
      return true
    case 'any':
      for (const n of c.conditions as Condition[]) if (await once(page, n, outputs)) return true
      return false
    case 'not':
      return !(await once(page, c.condition as Condition, outputs))
    default:
      throw new Error(`unknown condition type "${c.type}"`)
  }
}

/** Whether the condition holds, polling until its timeout when it has one. */
export async function testCondition(page: () => Promise<Page>, c: Condition, outputs: Record<string, unknown>): Promise<boolean> {
  const deadline = performance.now() + ((c.timeout as number | undefined) ?? 0) * 1000
  for (;;) {
    if (await once(page, c, outputs)) return true
    if (performance.now() + POLL_MS > deadline) return false
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}
