/**
 * The tunnel's server end against a hand-driven agent (a raw `ws` client that
 * speaks the frames itself): malformed frames are refused without harming the
 * other streams, a new connection replaces the old, a seed-only agent (no
 * extensions announced) still gets streamed bodies, the request timeout.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { decodeFrame, encodeFrame, MAX_CHUNK, MAX_HEADER, MAX_MESSAGE, type Frame, type RequestFrame } from '../../lib/tunnel/agent-frames.ts'
import { agentCode } from './agent-helpers.ts'

let nb: TestNestbox
let wid: string
let front: Server
let frontUrl: string
test.before(async () => {
  nb = await startTestNestbox({ set: { 'tunnel.agents.requestTimeoutMs': 1500 } })
  wid = (await (await nb.api('/api/workspaces')).json())[0].id
  // a loopback front door that hands each request to the hub, as the subdomain proxy does
  front = createServer((req, res) => nb.services.agentTunnels.request(req.headers['x-sandbox'] as string, req, res))
  front.on('upgrade', (req, socket, head) => nb.services.agentTunnels.upgrade(req.headers['x-sandbox'] as string, req, socket, head))
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r))
  frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`
})
test.after(async () => {
  front.closeAllConnections()
  front.close()
  await nb.close()
})

async function newSandbox() {
  const r = await fetch(nb.url + '/api/agent/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: await agentCode(nb, wid) }) })
  return (await r.json()) as { sandbox_id: string; tunnel_token: string }
}

/** A raw agent: every frame it receives lands in `frames`; next() waits for the next one matching. */
class RawAgent {
  ws: WebSocket
  frames: Array<{ f: Frame; payload: Buffer }> = []
  texts: string[] = []
  closed: Promise<number>
  private waiters = new Set<() => void>()
  private seen = 0
  constructor(sandboxId: string, token: string, features?: string) {
    this.ws = new WebSocket(`${nb.url.replace('http', 'ws')}/api/tunnel/${sandboxId}?token=${token}`, { headers: features ? { 'x-tunnel-features': features } : {} })
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) this.texts.push(String(data))
      else {
        const d = decodeFrame(data as Buffer)
        if (!d.ok) throw new Error(`server sent a bad frame: ${d.error}`)
        this.frames.push({ f: d.frame, payload: d.payload })
      }
      for (const w of this.waiters) w()
    })
    this.closed = new Promise((r) => this.ws.once('close', (code) => r(code)))
  }
  open() {
    return new Promise<void>((r, j) => {
      this.ws.once('open', () => r())
      this.ws.once('error', j)
    })
  }
  send(h: unknown, payload?: Buffer) {
    this.ws.send(encodeFrame(h as Frame, payload))
  }
  sendRaw(b: Buffer) {
    this.ws.send(b)
  }
  /** The next received frame (after those already taken) matching `pred`. */
  next<T extends Frame = Frame>(pred: (f: Frame) => boolean = () => true): Promise<{ f: T; payload: Buffer }> {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = this.seen; i < this.frames.length; i++) {
          if (pred(this.frames[i].f)) {
            this.seen = i + 1
            this.waiters.delete(check)
            clearTimeout(timer)
            return resolve(this.frames[i] as { f: T; payload: Buffer })
          }
        }
      }
      const timer = setTimeout(() => reject(new Error(`no frame matched; got ${JSON.stringify(this.frames.map((x) => x.f))}`)), 5000)
      this.waiters.add(check)
      check()
    })
  }
}

const via = (sandboxId: string, path: string, init: RequestInit = {}) => fetch(frontUrl + path, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-sandbox': sandboxId } })
/** The status of a WebSocket handshake to the front through a sandbox's tunnel (101 once it opened). */
const upgradeStatus = (sandboxId: string) =>
  new Promise<number>((r) => {
    const ws = new WebSocket(frontUrl.replace('http', 'ws') + '/ws', { headers: { 'x-sandbox': sandboxId } })
    ws.once('unexpected-response', (_q, rs) => r(rs.statusCode ?? 0))
    ws.once('open', () => r(101))
    ws.on('error', () => {})
  })

test('malformed frames (bad length, bad JSON, unknown type, unknown id, oversize) are refused; the stream in flight still completes', async () => {
  const sb = await newSandbox()
  const a = new RawAgent(sb.sandbox_id, sb.tunnel_token, 'window,upgrade')
  await a.open()
  const first = via(sb.sandbox_id, '/one?x=1')
  const second = via(sb.sandbox_id, '/two', { method: 'POST', body: 'abc' })
  const r1 = await a.next<RequestFrame>((f) => f.type === 'request' && f.path === '/one?x=1')
  const r2 = await a.next<RequestFrame>((f) => f.type === 'request' && f.path === '/two')
  assert.is(r1.f.method, 'GET')
  assert.is(r1.f.done, undefined, 'no body: the seed form')
  assert.is(r2.f.done, false, 'a body follows in stream frames')
  const body2 = await a.next((f) => f.type === 'stream' && f.id === r2.f.id && f.done === false)
  assert.is(body2.payload.toString(), 'abc')
  await a.next((f) => f.type === 'stream' && f.id === r2.f.id && f.done === true)

  const len = Buffer.alloc(4)
  len.writeUInt32BE(5000)
  a.sendRaw(Buffer.concat([len, Buffer.from('{"type":"ping"}')])) // header length beyond the message
  a.sendRaw(Buffer.from([0, 0, 0, 3, 0x7b, 0x22, 0x7d])) // '{"}' is not JSON
  a.send({ type: 'teleport', id: r1.f.id })
  a.send({ type: 'stream', id: 'r999', done: true }) // no such stream
  a.send({ type: 'stream', id: r1.f.id, done: false }, Buffer.alloc(17 * 1024)) // over 16 KiB
  a.sendRaw(Buffer.from([1]))
  a.ws.send('not json at all')
  const errors = []
  for (let i = 0; i < 7; i++) errors.push((await a.next((f) => f.type === 'error')).f as { message: string; id?: string })
  assert.match(errors[0].message, /beyond/)
  assert.match(errors[1].message, /not valid JSON/)
  assert.match(errors[2].message, /unknown frame type/)
  assert.is(errors[2].id, r1.f.id)
  assert.match(errors[3].message, /no stream with id r999/)
  assert.match(errors[4].message, /exceeds/)
  assert.match(errors[5].message, /shorter/)
  assert.match(errors[6].message, /agent_info/)

  // both streams are unharmed
  a.send({ type: 'stream', id: r1.f.id, status: 203, headers: { 'x-a': '1', 'set-cookie': ['p=1', 'q=2'], connection: 'close' }, done: false }, Buffer.from('one '))
  a.send({ type: 'stream', id: r2.f.id, status: 200, done: false })
  a.send({ type: 'stream', id: r1.f.id, done: true }, Buffer.from('done'))
  a.send({ type: 'stream', id: r2.f.id, done: true }, Buffer.from('two'))
  const res1 = await first
  assert.is(res1.status, 203)
  assert.is(res1.headers.get('x-a'), '1')
  assert.equal(res1.headers.getSetCookie(), ['p=1', 'q=2'])
  assert.is(await res1.text(), 'one done')
  assert.is(await (await second).text(), 'two')
  assert.is(a.ws.readyState, WebSocket.OPEN)
  a.ws.close()
})

test('message size: the largest valid frame (64 KiB header, 16 KiB payload) is read; one byte more closes the tunnel with 1009', async () => {
  const sb = await newSandbox()
  const a = new RawAgent(sb.sandbox_id, sb.tunnel_token, 'window,upgrade')
  await a.open()
  const head = Buffer.from(JSON.stringify({ type: 'stream', id: 'r998', done: true, pad: '' }))
  const header = Buffer.from(JSON.stringify({ type: 'stream', id: 'r998', done: true, pad: 'x'.repeat(MAX_HEADER - head.length) }))
  assert.is(header.length, MAX_HEADER)
  const len = Buffer.alloc(4)
  len.writeUInt32BE(header.length)
  const biggest = Buffer.concat([len, header, Buffer.alloc(MAX_CHUNK)])
  assert.is(biggest.length, MAX_MESSAGE)
  a.sendRaw(biggest)
  // read and decoded: refused for its unknown stream only, the tunnel stays up
  assert.match(((await a.next((f) => f.type === 'error')).f as { message: string }).message, /no stream with id r998/)
  assert.is(a.ws.readyState, WebSocket.OPEN)
  const closed = new Promise<number | string>((r) => (a.ws.once('close', (code) => r(code)), setTimeout(() => r('still open after 5 s'), 5000)))
  a.sendRaw(Buffer.concat([biggest, Buffer.from([0])]))
  assert.is(await closed, 1009)
})

test('a new connection replaces the old (close 4001); requests go to the new one; the old one\'s streams fail', async () => {
  const sb = await newSandbox()
  const a = new RawAgent(sb.sandbox_id, sb.tunnel_token, 'window,upgrade')
  await a.open()
  const pending = via(sb.sandbox_id, '/slow')
  await a.next((f) => f.type === 'request')
  const b = new RawAgent(sb.sandbox_id, sb.tunnel_token, 'window,upgrade')
  await b.open()
  assert.is(await a.closed, 4001)
  assert.is((await pending).status, 502)
  const r = via(sb.sandbox_id, '/again')
  const req = await b.next<RequestFrame>((f) => f.type === 'request')
  b.send({ type: 'stream', id: req.f.id, status: 200, done: true }, Buffer.from('from b'))
  assert.is(await (await r).text(), 'from b')
  b.ws.close()
})

test('agent_info text messages reach the sandbox; ping is answered with pong', async () => {
  const sb = await newSandbox()
  const a = new RawAgent(sb.sandbox_id, sb.tunnel_token)
  await a.open()
  a.ws.send(JSON.stringify({ type: 'agent_info', data: { hostname: 'box', cpu_count_logical: 8 } }))
  a.send({ type: 'ping' })
  await a.next((f) => f.type === 'pong')
  const end = Date.now() + 5000
  let info: unknown = null
  while (Date.now() < end) {
    const row = await nb.services.db.selectFrom('sandboxes').select('agent_info').where('id', '=', sb.sandbox_id).executeTakeFirst()
    if (row?.agent_info) {
      info = JSON.parse(row.agent_info)
      break
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.equal(info, { hostname: 'box', cpu_count_logical: 8 })
  a.ws.close()
})

test('a seed-only agent (no extensions): request bodies still stream, paced by the socket; upgrades are refused', async () => {
  const sb = await newSandbox()
  const a = new RawAgent(sb.sandbox_id, sb.tunnel_token)
  await a.open()
  const big = Buffer.alloc(2 * 1024 * 1024, 9) // four windows: without self-granting it would stall
  const res = via(sb.sandbox_id, '/up', { method: 'PUT', body: big })
  const req = await a.next<RequestFrame>((f) => f.type === 'request')
  let got = 0
  while (true) {
    const s = await a.next((f) => f.type === 'stream' && f.id === req.f.id)
    assert.ok(s.payload.length <= 16 * 1024)
    got += s.payload.length
    if ((s.f as { done: boolean }).done) break
  }
  assert.is(got, big.length)
  a.send({ type: 'stream', id: req.f.id, status: 204, done: true })
  assert.is((await res).status, 204)
  const status = await upgradeStatus(sb.sandbox_id)
  assert.is(status, 502)
  a.ws.close()
})

test('no answer head within the timeout (request or upgrade): 504 to the client, cancel to the agent; an offline agent: 502', async () => {
  const sb = await newSandbox()
  const a = new RawAgent(sb.sandbox_id, sb.tunnel_token, 'window,upgrade')
  await a.open()
  const t0 = Date.now()
  const r = await via(sb.sandbox_id, '/never')
  assert.is(r.status, 504)
  assert.ok(Date.now() - t0 >= 1400)
  const req = await a.next<RequestFrame>((f) => f.type === 'request')
  const c = await a.next((f) => f.type === 'cancel')
  assert.is((c.f as { id: string }).id, req.f.id)
  // an upgrade the agent never answers: 504 on the client's handshake, cancel to the agent
  const status = await upgradeStatus(sb.sandbox_id)
  assert.is(status, 504)
  const up = await a.next((f) => f.type === 'upgrade')
  assert.equal((await a.next((f) => f.type === 'cancel')).f, { type: 'cancel', id: (up.f as { id: string }).id, reason: 'timeout' })
  a.ws.close()
  await a.closed
  const end = Date.now() + 5000
  while (nb.services.agentTunnels.connected(sb.sandbox_id) && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
  const off = await via(sb.sandbox_id, '/x')
  assert.is(off.status, 502)
  assert.match(await off.text(), /offline/)
})

test.run()
