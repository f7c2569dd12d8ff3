/** A nestbox with a browser pool for the pool tests, and a client of /stealthy-auto-browse/ that keeps the INSTANCEID cookie. */
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startPageServer, type Page } from './pages.ts'
export { until } from '../harness.ts'

export type Answer = { status: number; body: { success: boolean; timestamp: number; data?: any; error?: string }; instance: string | null; setCookie: string | null; ms: number }

export async function startPool(set: Record<string, string | number | boolean> = {}, o: { dataDir?: string } = {}): Promise<{ nb: TestNestbox; token: string }> {
  const nb = await startTestNestbox({ set: { 'browser.replicas': 1, ...set }, ...o })
  return { nb, token: nb.bootstrap.stealthy_auto_browse_token ?? String(set['browser.token'] ?? '') }
}

/** A page server with `routes` for the replicas to browse, and a pool (startPool); close() ends both. */
export async function startPoolWithPages(routes: Record<string, Page>, set: Record<string, string | number | boolean> = {}) {
  const pages = await startPageServer(routes)
  try {
    const pool = await startPool(set)
    return { ...pool, pages, close: async () => (await pool.nb.close(), pages.close()) }
  } catch (err) {
    pages.close()
    throw err
  }
}

/** One client: sends its INSTANCEID cookie back, as a browser or requests.Session would. */
export function client(nb: TestNestbox, bearer: string) {
  let cookie: string | null = null
  const c = {
    get instance() {
      return cookie
    },
    set instance(v: string | null) {
      cookie = v
    },
    async post(body: unknown, o: { bearer?: string; raw?: string } = {}): Promise<Answer> {
      const t = Date.now()
      const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${o.bearer ?? bearer}` }
      if (cookie) headers.cookie = `INSTANCEID=${cookie}`
      const r = await fetch(`${nb.url}/stealthy-auto-browse/`, { method: 'POST', headers, body: o.raw ?? JSON.stringify(body) })
      const setCookie = r.headers.get('set-cookie')
      const m = setCookie ? /INSTANCEID=([^;]*)/.exec(setCookie) : null
      if (m) cookie = m[1] || null
      return { status: r.status, body: await r.json(), instance: m ? m[1] || null : null, setCookie, ms: Date.now() - t }
    },
  }
  return c
}

export type PoolStatus = { status: string; num_replicas: number; running: number; queued: number; replicas: Array<{ id: string | null; profile: string; state: string; queue_length: number; memory_mb: number | null }> }

export const status = async (nb: TestNestbox): Promise<PoolStatus> => (await fetch(`${nb.url}/stealthy-auto-browse/__queue/status`)).json() as Promise<PoolStatus>


/** The capsule of a replica (its metadata names it), through the Wrenn API. */
export async function capsuleOf(nb: TestNestbox, replica: string): Promise<string> {
  const list = (await (await nb.api('/v1/capsules')).json()) as Array<{ id: string; status: string; metadata: Record<string, string> }>
  const row = list.find((c) => c.metadata?.replica === replica && c.status === 'running')
  if (!row) throw new Error(`no running capsule for replica ${replica}`)
  return row.id
}

/** Runs a shell command in a capsule through the Wrenn API. */
export async function sh(nb: TestNestbox, capsule: string, script: string): Promise<string> {
  const r = await nb.api(`/v1/capsules/${capsule}/exec`, { method: 'POST', json: { cmd: '/bin/sh', args: ['-c', script], timeout_sec: 30 } })
  const j = (await r.json()) as { stdout: string; stderr: string }
  return j.stdout
}
