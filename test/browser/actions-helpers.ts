/**
 * For the action tests: a nestbox with one browser replica (a real Chromium in
 * its own capsule) and pages served from a network namespace the replica
 * reaches; requests go over real HTTP to /stealthy-auto-browse/ with its token.
 */
import { PNG } from 'pngjs'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startPageServer, type Page, type PageServer } from './pages.ts'

export type Answer = { success: boolean; timestamp: number; data?: any; error?: string }

export type BrowserTest = {
  nb: TestNestbox
  pages: PageServer
  token: string
  /** POST / with the token and the sticky cookie of the previous answer. */
  post: (body: unknown) => Promise<Answer>
  /** GET /screenshot/{kind}?query as raw bytes with its status and content type. */
  shot: (kind: 'browser' | 'desktop', query?: string) => Promise<{ status: number; type: string | null; body: Buffer }>
  close: () => Promise<void>
}

/** `reuse`: a data directory (kept on close) and the page server of an earlier run (left running on close), for restarts. */
type Settings = Record<string, string | number | boolean>
/** `set`: configuration, or a function of the page server giving it (e.g. a proxy at the page server's address). */
export async function startBrowserTest(pageTable: Record<string, Page>, settings: Settings | ((pages: PageServer) => Settings) = {}, reuse?: { pages?: PageServer; dataDir?: string }): Promise<BrowserTest> {
  const pages = reuse?.pages ?? (await startPageServer(pageTable))
  const set = typeof settings === 'function' ? settings(pages) : settings
  let nb: TestNestbox
  try {
    // a replica's first start can take long on a loaded 2-core machine; the tests are not about that
    nb = await startTestNestbox({ set: { 'browser.replicas': 1, 'browser.startTimeoutSec': 240, ...set }, ...(reuse?.dataDir ? { dataDir: reuse.dataDir, keepData: true } : {}) })
  } catch (e) {
    if (!reuse?.pages) pages.close()
    throw e
  }
  const token = nb.bootstrap.stealthy_auto_browse_token
  let cookie = ''
  const post = async (body: unknown): Promise<Answer> => {
    const res = await fetch(`${nb.url}/stealthy-auto-browse/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
      body: JSON.stringify(body),
    })
    const set = res.headers.get('set-cookie')
    if (set) cookie = set.split(';')[0]
    if (res.status !== 200) throw new Error(`POST / answered ${res.status}: ${await res.text()}`)
    return (await res.json()) as Answer
  }
  const shot: BrowserTest['shot'] = async (kind, query = '') => {
    const res = await fetch(`${nb.url}/stealthy-auto-browse/screenshot/${kind}${query ? '?' + query : ''}`, { headers: { authorization: `Bearer ${token}`, ...(cookie ? { cookie } : {}) } })
    return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) }
  }
  return {
    nb,
    pages,
    token,
    post,
    shot,
    close: async () => {
      await nb.close()
      if (!reuse?.pages) pages.close()
    },
  }
}

/** A successful answer's data, or a failure that names the action and its error. */
export async function ok(t: BrowserTest, body: Record<string, unknown>): Promise<any> {
  const a = await t.post(body)
  if (!a.success) throw new Error(`${String(body.action)} failed: ${a.error}`)
  return a.data
}

export function decodePng(buf: Buffer): { width: number; height: number; pixel: (x: number, y: number) => [number, number, number] } {
  const png = PNG.sync.read(buf)
  return {
    width: png.width,
    height: png.height,
    pixel: (x, y) => {
      const i = (png.width * y + x) * 4
      return [png.data[i], png.data[i + 1], png.data[i + 2]]
    },
  }
}
