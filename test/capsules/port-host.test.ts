/**
 * Host-routed port connections ({port}-{capsule}.{baseDomain}) handed to the
 * capsule's port after their first request (port-splice.ts): what the app gets,
 * what the client gets, which connections are handed over and which stay
 * request by request, over real keep-alive connections.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { Agent, request, type IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import WebSocket from 'ws'
import type { TestNestbox } from '../harness.ts'
import { createCapsule, start } from './fixtures.ts'
import { bigBody, startApp } from './port-app.ts'

const BASE = 'caps.nestbox.test'
let nb: TestNestbox
let id: string
let token: string

test.before(async () => {
  nb = await start({ baseDomain: BASE })
  id = await createCapsule(nb, { public_ports: [9000] })
  await startApp(nb, id, 8000)
  await startApp(nb, id, 9000)
  token = (await (await nb.api(`/v1/capsules/${id}/ports/8000/token`, { method: 'POST', json: { ttl_sec: 600 } })).json()).token
})
test.after(async () => {
  await nb?.close()
})

type Answer = { status: number; headers: IncomingHttpHeaders; body: Buffer; reused: boolean }

/** One request to a port host over `agent` (one kept-alive connection when maxSockets is 1). */
function hostReq(agent: Agent, host: string, path: string, o: { method?: string; headers?: Record<string, string>; body?: Buffer; chunked?: boolean } = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const u = new URL(nb.url)
    const headers: Record<string, string> = { host, ...o.headers }
    if (o.body && !o.chunked) headers['content-length'] = String(o.body.length)
    const req = request({ host: u.hostname, port: u.port, path, method: o.method ?? 'GET', headers, agent }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d) => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), reused: req.reusedSocket }))
    })
    req.on('error', reject)
    if (o.body && o.chunked) for (let i = 0; i < o.body.length; i += 100_000) req.write(o.body.subarray(i, i + 100_000))
    else if (o.body) req.write(o.body)
    req.end()
  })
}
const json = (a: Answer) => JSON.parse(a.body.toString())
const tokenCookie = () => ({ cookie: `nestbox_port_token=${token}; app=1` })

test('a token-cookie connection: the first request is checked and cleaned, later ones reach the app as sent', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const first = await hostReq(agent, `8000-${id}.${BASE}`, '/a?b=1', { headers: { ...tokenCookie(), 'x-forwarded-host': 'spoofed' } })
  assert.is(first.status, 200)
  const seen = json(first)
  assert.is(seen.path, '/a?b=1')
  assert.is(seen.headers.host, `8000-${id}.${BASE}`)
  assert.is(seen.headers.cookie, 'app=1', 'the port token is not passed on with the first request')
  assert.is(seen.headers['x-forwarded-host'], `8000-${id}.${BASE}`)
  assert.is(seen.headers['x-forwarded-proto'], 'http')
  assert.is(seen.headers['x-forwarded-for'], '127.0.0.1')
  assert.is(first.headers['x-request-id'], undefined, 'the answer is the app’s own, byte for byte')
  const second = await hostReq(agent, `8000-${id}.${BASE}`, '/second', { headers: { 'x-forwarded-host': 'as-sent' } })
  assert.ok(second.reused, 'the same connection')
  assert.is(json(second).path, '/second')
  assert.is(json(second).headers['x-forwarded-host'], 'as-sent', 'later requests are not read by nestbox')
  agent.destroy()
})

test('request bodies on a handed-over connection: sized and chunked, larger than one read', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const payload = Buffer.alloc(3 << 20)
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff
  const sha = createHash('sha256').update(payload).digest('hex')
  const sized = await hostReq(agent, `8000-${id}.${BASE}`, '/up', { method: 'POST', headers: tokenCookie(), body: payload })
  assert.equal(json(sized), { len: payload.length, sha })
  const big = await hostReq(agent, `8000-${id}.${BASE}`, '/big?n=16')
  assert.ok(big.reused)
  assert.ok(big.body.equals(bigBody(16)))
  const chunked = await hostReq(agent, `8000-${id}.${BASE}`, '/up', { method: 'POST', body: payload, chunked: true })
  assert.ok(chunked.reused)
  assert.equal(json(chunked), { len: payload.length, sha }, 'a chunked body arrives with its framing')
  agent.destroy()
})

test('pipelined requests on one connection are answered in order', async () => {
  const u = new URL(nb.url)
  const sock = connect(Number(u.port), u.hostname)
  const host = `9000-${id}.${BASE}`
  sock.write(`GET /one HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /two HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
  let got = ''
  for await (const d of sock) got += d
  const paths = [...got.matchAll(/"path": "([^"]+)"/g)].map((m) => m[1])
  assert.equal(paths, ['/one', '/two'])
})

test('a public port needs nothing; an API key keeps the connection request by request (never shown to the app)', async () => {
  const pub = await hostReq(new Agent(), `9000-${id}.${BASE}`, '/')
  assert.is(pub.status, 200)
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  for (let i = 0; i < 2; i++) {
    const r = await hostReq(agent, `8000-${id}.${BASE}`, `/k${i}`, { headers: { 'x-api-key': nb.apiKey } })
    assert.is(r.status, 200)
    assert.is(json(r).headers['x-api-key'], undefined, `request ${i}`)
    assert.ok(r.headers['x-request-id'], 'answered through nestbox')
    if (i) assert.ok(r.reused)
  }
  agent.destroy()
})

test('refusals answer in the Wrenn envelope and the connection goes on; a token in the query sets its cookie', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const none = await hostReq(agent, `8000-${id}.${BASE}`, '/')
  assert.is(none.status, 401)
  assert.ok(json(none).error.message)
  const after = await hostReq(agent, `8000-${id}.${BASE}`, '/after', { headers: tokenCookie() })
  assert.is(after.status, 200)
  assert.is(json(after).path, '/after')
  const closed = await hostReq(agent, `8001-${id}.${BASE}`, '/', { headers: { 'x-api-key': nb.apiKey } })
  assert.is(closed.status, 502)
  assert.match(json(closed).error.message, /nothing is listening on port 8001/)
  agent.destroy()
  // refused at the surface's entry (a key that does not exist), on a fresh connection
  const fresh = new Agent({ keepAlive: true, maxSockets: 1 })
  const badKey = await hostReq(fresh, `8000-${id}.${BASE}`, '/', { headers: { 'x-api-key': 'wrn_not_a_key' } })
  assert.is(badKey.status, 401)
  const next = await hostReq(fresh, `8000-${id}.${BASE}`, '/next', { method: 'POST', headers: tokenCookie(), body: Buffer.from('abc') })
  assert.ok(next.reused)
  assert.is(json(next).len, 3, 'the connection goes on, body and all')
  fresh.destroy()
  const q = await hostReq(new Agent(), `8000-${id}.${BASE}`, `/?nestbox_token=${encodeURIComponent(token)}`)
  assert.is(q.status, 200)
  assert.is(json(q).path, '/')
  assert.match(String(q.headers['set-cookie']), /^nestbox_port_token=[^;]+; Path=\/; HttpOnly/)
})

test('a WebSocket by host with the token cookie', async () => {
  const u = new URL(nb.url)
  const ws = new WebSocket(`ws://${u.host}/ws`, { headers: { host: `8000-${id}.${BASE}`, ...tokenCookie() } })
  await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)))
  const echoed = new Promise<string>((res) => ws.once('message', (d) => res(String(d))))
  ws.send('hi')
  assert.is(await echoed, 'echo:hi')
  ws.close()
})

test('a client that resets before sending anything is no trouble', async () => {
  const u = new URL(nb.url)
  const sock = connect(Number(u.port), u.hostname)
  await new Promise((r) => sock.once('connect', r))
  sock.resetAndDestroy()
  await new Promise((r) => setTimeout(r, 50))
  assert.is((await hostReq(new Agent(), 'localhost', '/v1/health')).status, 200)
})

test('a connection that has sent nothing yet does not hold up shutdown', async () => {
  const other = await start({ baseDomain: BASE })
  const u = new URL(other.url)
  const sock = connect(Number(u.port), u.hostname)
  await new Promise((r) => sock.once('connect', r))
  const closed = new Promise((r) => sock.once('close', r))
  const t0 = performance.now()
  await other.close()
  await closed
  assert.ok(performance.now() - t0 < 5000, `closed in ${Math.round(performance.now() - t0)} ms`)
})

test('a head split across reads, and other hosts, go through the HTTP server as before', async () => {
  const u = new URL(nb.url)
  const sock = connect(Number(u.port), u.hostname)
  await new Promise((r) => sock.once('connect', r))
  sock.write(`GET /slow HTTP/1.1\r\nHost: 8000-${id}.${BASE}\r\n`)
  await new Promise((r) => setTimeout(r, 50))
  sock.write(`Cookie: nestbox_port_token=${token}\r\nConnection: close\r\n\r\n`)
  let got = ''
  for await (const d of sock) got += d
  assert.match(got, /^HTTP\/1\.1 200/)
  assert.match(got, /x-request-id/i)
  assert.match(got, /"path": "\/slow"/)
  const health = await hostReq(new Agent(), `localhost`, '/v1/health')
  assert.is(health.status, 200)
})

test.run()
