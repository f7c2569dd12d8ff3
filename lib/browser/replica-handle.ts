// The interface between the browser pool (lib/browser/service.ts, replica.ts) and
// the actions that drive one replica (lib/browser/actions/, script.ts, input.ts,
// screenshot.ts, mcp-tools.ts). The pool implements ReplicaHandle; the actions use it.
import type { BrowserContext, Page } from 'playwright-core'

export interface ReplicaHandle {
  /** Replica id (also the INSTANCEID cookie value). */
  readonly id: string
  /** The persistent profile's context. */
  readonly context: BrowserContext
  /** The current tab (opened if none). */
  page(): Promise<Page>
  /** The X screen the browser window is on (Xvfb's size). */
  readonly screen: { width: number; height: number }
  /** Runs argv inside the replica's capsule with DISPLAY set (xdotool, screenshot tools). */
  exec(argv: string[], opts?: { stdin?: Buffer; timeoutMs?: number }): Promise<{ stdout: Buffer; stderr: string; exitCode: number }>
}

/** Every answer of POST / (HTTP 200 even when success is false, as the original). */
export type Envelope = { success: boolean; timestamp: number; data?: unknown; error?: string }

/** What stealth.ts needs from the pool's `browser` config section. */
export interface StealthConfig {
  locale: string          // e.g. "en-US"
  timezone: string        // IANA, e.g. "Europe/Berlin"
  proxy?: string | null   // upstream proxy URL for the pool, e.g. "http://host:3128"
}
