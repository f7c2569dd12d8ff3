/**
 * What a replica remembers between requests beyond its browser profile: the
 * active tab, how to answer the next dialog, the last dialog, and the network
 * and console logs when enabled. Kept per browser context, so a replaced
 * replica (a new context) starts clean.
 */
import type { BrowserContext, Page } from 'playwright-core'
import type { ReplicaHandle } from '../replica-handle.ts'

/** Entries a log keeps at most; the oldest go first. */
const MAX_LOG = 1000

export type DialogInfo = { type: string; message: string; default_value: string; buttons: string[] }
type LogEntry = Record<string, unknown>

export type ReplicaState = {
  active: Page | null
  nextDialog: { accept: boolean; text?: string } | null
  lastDialog: DialogInfo | null
  network: { on: boolean; entries: LogEntry[] }
  console: { on: boolean; entries: LogEntry[] }
  watched: WeakSet<Page>
}

const states = new WeakMap<BrowserContext, ReplicaState>()

const BUTTONS: Record<string, string[]> = { alert: ['ok'], confirm: ['ok', 'cancel'], prompt: ['ok', 'cancel'], beforeunload: ['leave', 'stay'] }

function push(log: { on: boolean; entries: LogEntry[] }, e: LogEntry) {
  if (!log.on) return
  log.entries.push(e)
  if (log.entries.length > MAX_LOG) log.entries.splice(0, log.entries.length - MAX_LOG)
}

/** Listeners every tab gets once: dialogs are answered (never left blocking the page) and logs fed. */
function watch(s: ReplicaState, page: Page) {
  if (s.watched.has(page)) return
  s.watched.add(page)
  page.on('dialog', (d) => {
    s.lastDialog = { type: d.type(), message: d.message(), default_value: d.defaultValue(), buttons: BUTTONS[d.type()] ?? ['ok'] }
    const how = s.nextDialog
    s.nextDialog = null
    const done = how && !how.accept ? d.dismiss() : d.accept(how?.text ?? undefined)
    done.catch(() => {})
  })
  page.on('request', (r) => push(s.network, { type: 'request', url: r.url(), method: r.method(), resource_type: r.resourceType(), timestamp: Date.now() / 1000 }))
  page.on('response', (r) => push(s.network, { type: 'response', url: r.url(), status: r.status(), timestamp: Date.now() / 1000 }))
  page.on('console', (m) => push(s.console, { type: m.type(), text: m.text(), location: m.location(), timestamp: Date.now() / 1000 }))
}

export function stateOf(r: ReplicaHandle): ReplicaState {
  let s = states.get(r.context)
  if (!s) {
    const fresh: ReplicaState = { active: null, nextDialog: null, lastDialog: null, network: { on: false, entries: [] }, console: { on: false, entries: [] }, watched: new WeakSet() }
    r.context.on('page', (p) => watch(fresh, p))
    for (const p of r.context.pages()) watch(fresh, p)
    states.set(r.context, fresh)
    s = fresh
  }
  return s
}

/** The tab actions work on: the one chosen with new_tab/switch_tab while it is open, else the replica's current one. */
export async function activePage(r: ReplicaHandle): Promise<Page> {
  const s = stateOf(r)
  if (s.active && !s.active.isClosed()) return s.active
  const page = await r.page()
  watch(s, page)
  s.active = page
  return page
}
