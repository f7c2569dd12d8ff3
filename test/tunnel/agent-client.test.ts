/**
 * The agent's end against a hand-driven server: a real `nestbox agent connect`
 * (from saved credentials) connects to a ws server this test runs, which sends
 * it malformed frames and requests it must refuse, then a good request.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocketServer, type WebSocket } from 'ws'
import { decodeFrame, encodeFrame, type Frame } from '../../lib/tunnel/agent-frames.ts'
import { spawnAgent, startLocalService, stopAgents, type LocalService } from './agent-helpers.ts'

const dir = mkdtempSync(join(tmpdir(), 'nestbox-agent-client-'))
let local: LocalService
let server: ReturnType<typeof createServer>
let url: string
const connections: Array<{ ws: WebSocket; req: IncomingMessage; frames: Array<{ f: Frame; payload: Buffer }>; texts: string[] }> = []
let onFrame = () => {}

test.before(async () => {
  local = await startLocalService()
  server = createServer((_q, s) => s.writeHead(404).end())
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws, req) => {
    const c = { ws, req, frames: [] as Array<{ f: Frame; payload: Buffer }>, texts: [] as string[] }
    connections.push(c)
    ws.on('message', (data, isBinary) => {
      if (!isBinary) c.texts.push(String(data))
      else {
        const d = decodeFrame(data as Buffer)
        if (!d.ok) throw new Error(`the agent sent a bad frame: ${d.error}`)
        c.frames.push({ f: d.frame, payload: d.payload })
      }
      onFrame()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
test.after(async () => {
  await stopAgents()
  server.closeAllConnections()
  server.close()
  await local.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Resolves with the first frame of connection `c` from index `from` on that matches. */
function frame(c: (typeof connections)[number], pred: (f: Frame) => boolean, from = 0): Promise<{ f: Frame; payload: Buffer; index: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no such frame; got ${JSON.stringify(c.frames.map((x) => x.f))}`)), 10_000)
    const check = () => {
      const i = c.frames.findIndex((x, j) => j >= from && pred(x.f))
      if (i < 0) return
      clearTimeout(timer)
      onFrame = () => {}
      resolve({ ...c.frames[i], index: i })
    }
    onFrame = check
    check()
  })
}

test('the agent refuses malformed frames and a request it cannot make, and serves the next request', async () => {
  const registry = join(dir, 'agents.json')
  writeFileSync(registry, JSON.stringify({ agents: [{ sandbox_id: 'sb-1', workspace_id: 'w-1', tunnel_token: 'tok', server: url, name: 'x', opencode_port: local.port, created_at: new Date().toISOString() }] }), { mode: 0o600 })
  const agent = spawnAgent(['connect', '--server', url, '--registry', registry])
  await agent.waitFor(/tunnel connected/)
  const c = connections[0]
  assert.is(c.req.url, '/api/tunnel/sb-1?token=tok')
  assert.is(c.req.headers['x-tunnel-features'], 'window,upgrade')

  c.ws.send(Buffer.from([0, 0, 0, 99, 0x7b])) // header length beyond the message
  c.ws.send(encodeFrame({ type: 'warp', id: 'r1' } as never))
  c.ws.send(encodeFrame({ type: 'stream', id: 'nope', done: true }))
  c.ws.send('a text message')
  const errors = []
  let at = 0
  for (let i = 0; i < 4; i++) {
    const e = await frame(c, (f) => f.type === 'error', at)
    at = e.index + 1
    errors.push((e.f as { message: string }).message)
  }
  assert.match(errors[0], /beyond/)
  assert.match(errors[1], /unknown frame type/)
  assert.match(errors[2], /no stream with id nope/)
  assert.match(errors[3], /binary frames only/)

  c.ws.send(encodeFrame({ type: 'request', id: 'r2', method: 'GET', path: '/hello', headers: { 'bad header': 'x' } }))
  const cancel = await frame(c, (f) => f.type === 'cancel' && f.id === 'r2')
  assert.match((cancel.f as { reason: string }).reason, /refused by the agent/)

  c.ws.send(encodeFrame({ type: 'request', id: 'r3', method: 'GET', path: '/hello?q=1', headers: { accept: '*/*' } }))
  const head = await frame(c, (f) => f.type === 'stream' && f.id === 'r3')
  assert.is((head.f as { status: number }).status, 200)
  let body = head.payload.toString()
  let last = head
  while (!(last.f as { done: boolean }).done) {
    last = await frame(c, (f) => f.type === 'stream' && f.id === 'r3', last.index + 1)
    body += last.payload.toString()
  }
  assert.is(body, 'hello from the local service')
  assert.ok(c.texts.some((t) => JSON.parse(t).type === 'agent_info'))
  await agent.stop()
})

test.run()
