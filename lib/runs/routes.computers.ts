/** The cloudbox API's computers (seed 002): POST /api/computers, POST /api/brief, /api/c/:id/{list,read,write,ask,submit,grade,receipts,spec,reset}. */
import { Hono, type Context } from 'hono'
import { invalid } from '../core/errors.ts'
import type { AppEnv } from '../http/types.ts'
import type { Computers } from './computers.ts'
import type { RunCaller } from './service.ts'

const json = (c: Context<AppEnv>) => c.req.json().catch(() => Promise.reject(invalid('request body is not valid JSON', 'invalid_json')))

export function computerRoutes(computers: Computers, caller: (c: Context<AppEnv>) => RunCaller) {
  const r = new Hono<AppEnv>()
  r.post('/computers', async (c) => c.json(await computers.create(caller(c), await json(c)), 201))
  r.post('/brief', async (c) => c.json(await computers.brief(caller(c), await json(c))))
  r.get('/c/:id/list', async (c) => c.json(await computers.list(caller(c), c.req.param('id'))))
  r.get('/c/:id/read', async (c) => c.json(await computers.read(caller(c), c.req.param('id'), c.req.query('path'))))
  r.post('/c/:id/write', async (c) => c.json(await computers.write(caller(c), c.req.param('id'), await json(c))))
  r.post('/c/:id/ask', async (c) => c.json(await computers.ask(caller(c), c.req.param('id'), await json(c))))
  r.post('/c/:id/submit', async (c) => c.json(await computers.submit(caller(c), c.req.param('id'), await json(c))))
  r.get('/c/:id/grade', async (c) => c.json(await computers.grade(caller(c), c.req.param('id'))))
  r.get('/c/:id/receipts', async (c) => c.json(await computers.receipts(caller(c), c.req.param('id'), c.req.query('runId') || undefined)))
  r.get('/c/:id/spec', async (c) => c.json(await computers.spec(caller(c), c.req.param('id'))))
  r.post('/c/:id/reset', async (c) => c.json(await computers.reset(caller(c), c.req.param('id'))))
  return r
}
