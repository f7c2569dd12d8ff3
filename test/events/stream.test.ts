import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { addMember, adminSession, createCapsule } from '../capsules/fixtures.ts'
import { openStream, type Stream } from './sse.ts'

let nb: TestNestbox
let other: { key: string; teamId: string }
const open: Stream[] = []
/** argv: port key. Reads the stream head, then stops until stdin says "read", then copies the rest to stdout until EOF. */
const SLOW_READER = `
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET /v1/events/stream?types=host.* HTTP/1.1\\r\\nHost: x\\r\\nX-API-Key: " + sys.argv[2] + "\\r\\n\\r\\n").encode())
buf = b""
while b"event: connected" not in buf:
    buf += s.recv(4096)
sys.stdout.buffer.write(buf); sys.stdout.flush()
sys.stdin.readline()
while True:
    try:
        d = s.recv(65536)
    except ConnectionResetError:
        break
    if not d:
        break
    sys.stdout.buffer.write(d)
sys.stdout.flush()
`
const SET = { 'events.retryMs': 100, 'events.heartbeatSec': 1, 'events.clientBufferKb': 64, 'events.clientStallSec': 1 }

test.before(async () => {
  nb = await startTestNestbox({ set: SET })
  other = await addMember(nb, 'owner')
})
test.after(async () => {
  for (const s of open) s.close()
  await nb.close()
})

const stream = (path: string, opts: Parameters<typeof openStream>[1]) => {
  const s = openStream(nb.url + path, opts)
  open.push(s)
  return s
}
const newKey = async (key: string, name: string) => {
  const r = await fetch(nb.url + '/v1/api-keys', { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
  assert.is(r.status, 201, await r.clone().text())
  return r.json()
}
const connected = (s: Stream) => new Promise<void>((res) => (s.es.readyState === 1 ? res() : s.es.addEventListener('open', () => res(), { once: true })))

test('team stream: audited actions arrive as named events with id, payload and actor; other teams see none of them', async () => {
  const mine = stream('/v1/events/stream', { key: nb.apiKey, types: ['connected', 'api_key.create', 'team.rename'] })
  const theirs = stream('/v1/events/stream', { key: other.key, types: ['api_key.create', 'team.rename'] })
  await Promise.all([connected(mine), connected(theirs)])
  const k = await newKey(nb.apiKey, 'streamed key')
  await mine.waitFor((g) => g.some((e) => e.type === 'api_key.create' && e.data.resource && (e.data.resource as { id: string }).id === k.id), 'api_key.create')
  const ev = mine.got.find((e) => e.type === 'api_key.create')!
  assert.match(ev.id, /^\d+$/)
  assert.is(ev.data.event, 'api_key.create')
  assert.is(ev.data.outcome, 'success')
  assert.is(ev.data.team_id, nb.bootstrap.team_id)
  assert.equal(ev.data.resource, { id: k.id, type: 'api_key' })
  assert.is((ev.data.actor as { type: string }).type, 'api_key')
  assert.equal(ev.data.metadata, { name: 'streamed key' })
  assert.ok(Date.parse(ev.data.timestamp as string) > Date.now() - 60_000)
  assert.is(mine.got[0].type, 'connected')
  // the other team's stream only gets its own team's events
  await newKey(other.key, 'theirs')
  await theirs.waitFor((g) => g.some((e) => e.type === 'api_key.create'), 'their key event')
  assert.ok(theirs.got.every((e) => e.data.team_id === other.teamId), JSON.stringify(theirs.got))
  await nb.services.events.settled()
  assert.ok(!mine.got.some((e) => e.data.team_id === other.teamId))
})

test('admin stream gets every team; non-admins get 403, nobody 401, bad ?types= 400 in the Wrenn envelope', async () => {
  const admin = await adminSession(nb)
  const all = stream('/v1/admin/events/stream', { cookie: admin.headers.cookie, types: ['api_key.create'] })
  await connected(all)
  const a = await newKey(nb.apiKey, 'admin sees 1')
  const b = await newKey(other.key, 'admin sees 2')
  await all.waitFor((g) => [a.id, b.id].every((id) => g.some((e) => (e.data.resource as { id: string }).id === id)), 'both teams')
  let r = await fetch(nb.url + '/v1/admin/events/stream', { headers: { 'x-api-key': other.key } })
  assert.is(r.status, 403)
  assert.is((await r.json()).error.code, 'admin_required')
  r = await fetch(nb.url + '/v1/events/stream')
  assert.is(r.status, 401)
  assert.ok((await r.json()).error.code)
  r = await fetch(nb.url + '/v1/events/stream?types=capsule.create,DROP%20TABLE', { headers: { 'x-api-key': nb.apiKey } })
  assert.is(r.status, 400)
  assert.is((await r.json()).error.code, 'invalid_types')
  r = await fetch(nb.url + '/v1/events/stream', { headers: { 'x-api-key': nb.apiKey, 'last-event-id': 'abc' } })
  assert.is(r.status, 400)
})

test('a stream answers with the caller\'s request id and nosniff, for a Bearer key not used before; an unknown key is 401 in the Wrenn envelope', async () => {
  const k = await newKey(nb.apiKey, 'fresh bearer')
  const ac = new AbortController()
  const r = await fetch(nb.url + '/v1/events/stream?types=host.*', { headers: { authorization: `Bearer ${k.key}`, 'x-request-id': 'sse-rid-1' }, signal: ac.signal })
  assert.is(r.status, 200)
  assert.is(r.headers.get('x-request-id'), 'sse-rid-1')
  assert.is(r.headers.get('x-content-type-options'), 'nosniff')
  assert.is(r.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  const reader = r.body!.getReader()
  let head = ''
  while (!head.includes('event: connected')) head += new TextDecoder().decode((await reader.read()).value)
  assert.match(head, /^retry: \d+\nid: \d+\nevent: connected\n/)
  ac.abort()
  const bad = await fetch(nb.url + '/v1/events/stream', { headers: { 'x-api-key': 'wrn_' + '0'.repeat(32) } })
  assert.is(bad.status, 401)
  assert.is((await bad.json()).error.code, 'invalid_api_key')
})

test('?types= filters (exact names and prefix.*)', async () => {
  const only = stream('/v1/events/stream?types=team.*', { key: nb.apiKey, types: ['api_key.create', 'team.rename'] })
  await connected(only)
  await newKey(nb.apiKey, 'filtered out')
  const r = await fetch(nb.url + `/v1/teams/${nb.bootstrap.team_id}`, { method: 'PATCH', headers: { 'x-api-key': nb.apiKey, 'content-type': 'application/json' }, body: '{"name":"Renamed"}' })
  assert.ok(r.ok, await r.text())
  await only.waitFor((g) => g.some((e) => e.type === 'team.rename'), 'team.rename')
  assert.ok(only.got.every((e) => e.type === 'team.rename'))
  assert.equal(only.got.at(-1)!.data.metadata, { name: 'Renamed' })
})

test('disconnect and Last-Event-ID resume: the EventSource reconnects and gets what it missed, in order, without duplicates', async () => {
  // a TCP relay between the client and nestbox, so the test can cut the connection
  const socks = new Set<Socket>()
  const relay: Server = createServer((c) => {
    const up = connect(nb.port, '127.0.0.1')
    socks.add(c).add(up)
    c.pipe(up).on('error', () => {})
    up.pipe(c).on('error', () => {})
    const end = () => (c.destroy(), up.destroy())
    c.on('close', end).on('error', end)
    up.on('close', end).on('error', end)
  })
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r))
  const port = (relay.address() as { port: number }).port
  const s = stream('/v1/events/stream?types=api_key.*', { key: nb.apiKey, types: ['api_key.create'] })
  s.es.close()
  const es = openStream(`http://127.0.0.1:${port}/v1/events/stream?types=api_key.*`, { key: nb.apiKey, types: ['api_key.create'] })
  open.push(es)
  await connected(es)
  const before = await newKey(nb.apiKey, 'before cut')
  await es.waitFor((g) => g.some((e) => e.data.metadata && (e.data.metadata as { name: string }).name === 'before cut'), 'first event')
  relay.close()
  for (const x of socks) x.destroy()
  const missed: string[] = []
  for (let i = 0; i < 5; i++) missed.push((await newKey(nb.apiKey, `missed ${i}`)).id)
  await new Promise<void>((r) => relay.listen(port, '127.0.0.1', r))
  await es.waitFor((g) => missed.every((id) => g.some((e) => (e.data.resource as { id: string }).id === id)), 'missed events after reconnect')
  const ids = es.got.map((e) => Number(e.id))
  assert.equal(ids, [...new Set(ids)].sort((a, b) => a - b), 'in order, no duplicates')
  assert.ok(es.requests.length >= 2)
  assert.is(es.requests[1], es.got.find((e) => (e.data.resource as { id: string }).id === before.id)!.id, 'reconnect sent the last id')
  es.close()
  relay.close()
})

test('a burst past the client buffer: readers catch up from the log; a client that stops reading is cut off and resumes with Last-Event-ID', async () => {
  const T = nb.bootstrap.team_id
  const fast = stream('/v1/events/stream?types=host.*', { key: nb.apiKey, types: ['host.up'] })
  await connected(fast)
  // the slow reader: a Python socket with a 4 KiB receive buffer that stops reading after the connected event,
  // so the kernel holds little of what nestbox sends and the test does not depend on loopback buffer autotuning
  const slow = spawn('/usr/bin/python3', ['-c', SLOW_READER, String(nb.port), nb.apiKey], { stdio: ['pipe', 'pipe', 'inherit'] })
  let raw = ''
  let closed = false
  slow.stdout.on('data', (d) => (raw += d))
  slow.on('exit', () => (closed = true))
  await fast.waitFor(() => raw.includes('event: connected'), 'slow client connected')
  // batches of 50 events of 64 KiB until nestbox gives up on the slow client: how much the socket buffers absorb
  // first depends on the network stack (gVisor's loopback takes megabytes), so the test does not guess it
  const blob = 'x'.repeat(64 * 1024)
  const before = nb.services.events.clients
  let total = 0
  while (nb.services.events.clients === before && total < 1000) {
    for (let i = 0; i < 50; i++, total++) nb.services.bus.publish({ type: 'host.up', teamId: T, resourceType: 'host', resourceId: `h${total}`, data: { n: total, blob } })
    await fast.waitFor((g) => g.filter((e) => e.type === 'host.up').length === total, `fast client got all ${total}`, 20_000)
    const t0 = Date.now()
    while (nb.services.events.clients === before && Date.now() - t0 < 2500) await new Promise((r) => setTimeout(r, 20))
  }
  assert.is(nb.services.events.clients, before - 1, `the slow client was dropped (after ${total} events)`)
  assert.equal(fast.got.map((e) => e.data.n), [...Array(total).keys()])
  assert.is(fast.requests.length, 1, 'the reading client was never disconnected')
  slow.stdin.end('read\n')
  await fast.waitFor(() => closed, 'slow client disconnected')
  const frames = [...raw.matchAll(/^id: (\d+)\nevent: host\.up\ndata: (.*)\n\n/gm)].map((m) => ({ id: m[1], n: JSON.parse(m[2]).n as number }))
  assert.ok(frames.length < total, `the slow client was cut before the end (${frames.length} of ${total} events)`)
  assert.equal(frames.map((f) => f.n), [...Array(frames.length).keys()])
  const resumed = stream('/v1/events/stream?types=host.*', { key: nb.apiKey, types: ['host.up'], lastEventId: frames.at(-1)?.id ?? /id: (\d+)\nevent: connected/.exec(raw)![1] })
  await resumed.waitFor((g) => g.length === total - frames.length, 'the rest after resume', 20_000)
  assert.equal(resumed.got.map((e) => e.data.n), [...Array(total).keys()].slice(frames.length))
  assert.is(nb.services.events.clients >= 2, true)
})

test('idle connections get a keepalive comment', async () => {
  const sock = connect(nb.port, '127.0.0.1')
  let raw = ''
  sock.on('data', (d) => (raw += d))
  sock.write(`GET /v1/events/stream HTTP/1.1\r\nHost: x\r\nX-API-Key: ${nb.apiKey}\r\n\r\n`)
  const t0 = Date.now()
  while (!raw.includes(': keepalive\n\n') && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20))
  sock.destroy()
  assert.match(raw, /^HTTP\/1\.1 200/)
  assert.match(raw, /content-type: text\/event-stream/i)
  assert.match(raw, /retry: 100\n/)
  assert.ok(raw.includes(': keepalive\n\n'))
})

test('the log survives a restart; the retention job drops events past retention', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nestbox-events-'))
  try {
    let a = await startTestNestbox({ dataDir: dir, set: { ...SET, 'events.retentionHours': 1 } })
    const T = a.bootstrap.team_id
    a.services.bus.publish({ type: 'host.down', teamId: T, resourceType: 'host', resourceId: 'old', at: Date.now() - 2 * 3_600_000 })
    a.services.bus.publish({ type: 'host.down', teamId: T, resourceType: 'host', resourceId: 'kept' })
    await a.services.events.settled()
    await a.close()
    a = await startTestNestbox({ dataDir: dir, set: { ...SET, 'events.retentionHours': 1 } })
    const s1 = openStream(a.url + '/v1/events/stream', { key: a.apiKey, types: ['host.down'], lastEventId: '0' })
    await s1.waitFor((g) => g.length === 2, 'both events replayed after restart')
    s1.close()
    assert.equal(s1.got.map((e) => (e.data.resource as { id: string }).id), ['old', 'kept'])
    await a.services.jobs.runNow('events.retention')
    const s2 = openStream(a.url + '/v1/events/stream', { key: a.apiKey, types: ['host.down'], lastEventId: '0' })
    await s2.waitFor((g) => g.length === 1, 'only the kept event')
    await new Promise((r) => setTimeout(r, 100))
    s2.close()
    assert.equal(s2.got.map((e) => (e.data.resource as { id: string }).id), ['kept'])
    await a.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('capsule lifecycle: create, state changes and destroy carry the sandbox, actor and from/to', async () => {
  const s = stream('/v1/events/stream?types=capsule.*', { key: nb.apiKey, types: ['capsule.create', 'capsule.state.changed', 'capsule.destroy'] })
  await connected(s)
  const id = await createCapsule(nb)
  assert.is((await nb.api(`/v1/capsules/${id}`, { method: 'DELETE' })).status, 202)
  await s.waitFor((g) => g.some((e) => e.type === 'capsule.destroy'), 'capsule.destroy', 20_000)
  const create = s.got.find((e) => e.type === 'capsule.create')!
  assert.is(create.data.outcome, 'success')
  assert.equal(create.data.resource, { id, type: 'sandbox' })
  assert.is((create.data.sandbox as { id: string }).id, id)
  assert.is((create.data.actor as { type: string }).type, 'api_key')
  const running = s.got.find((e) => e.type === 'capsule.state.changed' && (e.data.metadata as { to: string }).to === 'running')!
  assert.ok(running, JSON.stringify(s.got.map((e) => e.data.metadata)))
  assert.is(running.data.outcome, undefined)
  assert.is((running.data.sandbox as { status: string }).status, 'running')
})

test('a stream ends when its opener loses access (API key deleted)', async () => {
  const k = await newKey(nb.apiKey, 'short-lived')
  const s = stream('/v1/events/stream', { key: k.key, types: ['api_key.delete'] })
  await connected(s)
  assert.is(nb.services.events.clients > 0, true)
  const r = await fetch(nb.url + `/v1/api-keys/${k.id}`, { method: 'DELETE', headers: { 'x-api-key': nb.apiKey } })
  assert.ok(r.ok, String(r.status))
  // the server ends the stream; the EventSource's reconnect is refused (401), so it closes for good
  await s.waitFor(() => s.es.readyState === 2, 'the stream to close')
  assert.ok(s.requests.length >= 2, 'it tried to reconnect')
})

test.run()
