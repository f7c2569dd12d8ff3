/**
 * Boots the same nestbox main.ts runs, on 127.0.0.1 port 0 with a temporary data
 * directory, and returns what a test needs to talk to it over real HTTP.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../lib/core/config/index.ts'
import { createLogger, silentLogger } from '../lib/core/logger.ts'
import { startNestbox, type Nestbox } from '../lib/http/server.ts'

export type TestNestbox = Nestbox & {
  /** The bootstrap admin's API key (team owner, platform admin). */
  apiKey: string
  bootstrap: Record<string, string>
  /** fetch relative to the server, with the admin API key unless headers override it. */
  api: (path: string, init?: RequestInit & { json?: unknown }) => Promise<Response>
}

export async function startTestNestbox(opts: { set?: Record<string, string | number | boolean>; dataDir?: string; keepData?: boolean; env?: Record<string, string> } = {}): Promise<TestNestbox> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'nestbox-test-'))
  const removeData = () => {
    if (!opts.keepData && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true })
  }
  const argv = ['--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0']
  for (const [k, v] of Object.entries(opts.set ?? {})) argv.push('--set', `${k}=${v}`)
  const log = process.env.NESTBOX_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger
  let nb: Awaited<ReturnType<typeof startNestbox>>
  try {
    nb = await startNestbox(loadConfig({ argv, env: opts.env ?? {} }), { log })
  } catch (e) {
    // tests that expect a start to fail would otherwise leave the data directory behind
    removeData()
    throw e
  }
  const bootstrap = Object.fromEntries(
    readFileSync(join(dataDir, 'bootstrap.txt'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('=') && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  )
  const api: TestNestbox['api'] = (path, init = {}) => {
    const headers = new Headers(init.headers)
    if (!headers.has('x-api-key') && !headers.has('authorization') && !headers.has('cookie')) headers.set('x-api-key', bootstrap.api_key)
    let body = init.body
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json')
      body = JSON.stringify(init.json)
    }
    return fetch(nb.url + path, { ...init, headers, body })
  }
  return {
    ...nb,
    apiKey: bootstrap.api_key,
    bootstrap,
    api,
    close: async () => {
      await nb.close()
      removeData()
    },
  }
}

const scratch = new Set<string>()
process.on('exit', () => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
})
/** A temporary directory (`nestbox-<prefix>-…`) removed when the test process exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `nestbox-${prefix}-`))
  scratch.add(dir)
  return dir
}

/** Polls `check` until it returns a truthy value, and returns that; throws after `ms`. */
export async function until<T>(check: () => Promise<T | null | false> | T | null | false, ms = 30_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
