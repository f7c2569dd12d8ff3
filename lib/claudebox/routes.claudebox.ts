/**
 * compat(claudebox 000): the claudebox HTTP surface, mounted at /claudebox and
 * /claudebox-zai: health, status, run (sync, async, or streamed as SSE: a
 * nestbox extension), run/cancel, run/result, files. Errors are {"error": message}.
 */
import { Hono, type Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { Readable } from 'node:stream'
import { invalid } from '../core/errors.ts'
import type { AppEnv } from '../http/types.ts'
import { parseRun } from './input.ts'
import type { Run } from './runs.ts'
import type { Caller, Claudebox } from './service.ts'

export const bearerOf = (c: Context<AppEnv>) => c.req.header('authorization')?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? c.req.header('x-api-key')

/** The answer of a finished run: the result, or the seed's failed/cancelled shapes with their status codes. */
export function runAnswer(r: Run): { body: Record<string, unknown>; status: 200 | 500 } {
  if (r.status === 'completed') return { body: r.answer!, status: 200 }
  if (r.status === 'cancelled') return { body: { runId: r.id, workspace: r.workspace, status: 'cancelled', error: 'run cancelled' }, status: 500 }
  return { body: { runId: r.id, workspace: r.workspace, status: 'failed', error: r.error ?? 'run failed' }, status: 500 }
}

/** Calls `gone` when the client hangs up before the answer was sent. */
export function onClientGone(c: Context<AppEnv>, gone: () => void) {
  const res = c.env?.outgoing
  res?.once('close', () => {
    if (!res.writableFinished) gone()
  })
}

export function claudeboxRoutes(cb: Claudebox) {
  const r = new Hono<AppEnv>()
  const caller = (c: Context<AppEnv>): Promise<Caller> => cb.authenticate(bearerOf(c))

  r.get('/health', (c) => c.json({ status: 'ok' }))
  r.get('/status', async (c) => c.json(cb.status(await caller(c))))

  r.post('/run', async (c) => {
    const who = await caller(c)
    const req = parseRun(await c.req.json().catch(() => Promise.reject(invalid('request body is not valid JSON', 'invalid_json'))))
    if (req.stream) {
      let send: (event: string, data: unknown) => void = () => {}
      const run = cb.run(who, req, { onTurn: (t) => send('turn', t) })
      return streamSSE(c, async (s) => {
        send = (event, data) => void s.writeSSE({ event, data: JSON.stringify(data) })
        s.onAbort(() => {
          if (!req.fireAndForget) void run.cancel()
        })
        await run.done
        const a = runAnswer(run)
        await s.writeSSE({ event: a.status === 200 ? 'result' : 'error', data: JSON.stringify(a.body) })
      })
    }
    const run = cb.run(who, req)
    if (req.async) return c.json({ runId: run.id, workspace: run.workspace, status: 'running' })
    let gone = false
    onClientGone(c, () => {
      gone = true
      if (!req.fireAndForget) void run.cancel()
    })
    await run.done
    // compat(claudebox 000): 499 for a client that disconnected (nobody reads it, but the log shows it)
    if (gone) return c.json({ error: 'client disconnected' }, 499 as 400)
    const a = runAnswer(run)
    return c.json(a.body, a.status)
  })

  r.post('/run/cancel', async (c) => {
    const body = c.req.header('content-type')?.includes('json') ? ((await c.req.json().catch(() => ({}))) as Record<string, unknown>) : {}
    const runId = c.req.query('runId') ?? (typeof body.runId === 'string' ? body.runId : undefined)
    const workspace = c.req.query('workspace') ?? (typeof body.workspace === 'string' ? body.workspace : undefined)
    return c.json(await cb.cancel(await caller(c), { runId, workspace }))
  })

  r.get('/run/result', async (c) => c.json(cb.result(await caller(c), c.req.query('runId'))))

  // /files, /files/{workspace}, /files/{workspace}/{path...}
  const split = (c: Context<AppEnv>): { ws: string | null; rel: string } => {
    const raw = c.req.path
    const at = raw.indexOf('/files')
    const rest = raw.slice(at + '/files'.length).replace(/^\/+/, '')
    if (!rest) return { ws: null, rel: '' }
    const [ws, ...parts] = rest.split('/')
    try {
      return { ws: decodeURIComponent(ws), rel: parts.map(decodeURIComponent).join('/') }
    } catch {
      throw invalid('path is not valid URL encoding', 'invalid_path')
    }
  }
  const read = async (c: Context<AppEnv>) => {
    const { ws, rel } = split(c)
    const a = await cb.read(await caller(c), ws, rel)
    if (a.kind === 'dir') return c.json({ path: a.path, entries: a.entries })
    return new Response(Readable.toWeb(a.stream) as ReadableStream, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(a.size) } })
  }
  r.get('/files', read)
  r.get('/files/*', read)
  r.put('/files/*', async (c) => {
    const { ws, rel } = split(c)
    if (!ws || !rel) throw invalid('PUT /files/{workspace}/{path}', 'invalid_path')
    const body = c.req.raw.body ? Readable.fromWeb(c.req.raw.body as never) : Readable.from([])
    return c.json(await cb.write(await caller(c), ws, rel, body))
  })
  r.delete('/files/*', async (c) => {
    const { ws, rel } = split(c)
    if (!ws || !rel) throw invalid('DELETE /files/{workspace}/{path}', 'invalid_path')
    return c.json(await cb.remove(await caller(c), ws, rel))
  })
  return r
}
