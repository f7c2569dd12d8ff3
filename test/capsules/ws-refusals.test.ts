/**
 * Refused WebSocket upgrades (issue 9 §5): the answer carries the Wrenn error
 * body and status, exactly as the same URL answers without upgrade headers.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import type { TestNestbox } from '../harness.ts'
import { call, createCapsule, startWithCapsule, type Callers } from './fixtures.ts'

let nb: TestNestbox
let who: Callers
let id: string

test.before(async () => void ({ nb, who, id } = await startWithCapsule()))
test.after(() => nb?.close())

type Answer = { status: number; type: string | undefined; body: string }

/** What a WebSocket client gets when the upgrade is refused. */
function upgrade(path: string, headers: Record<string, string>): Promise<Answer> {
  const ws = new WebSocket(nb.url.replace(/^http/, 'ws') + path, { headers })
  return new Promise((res, rej) => {
    ws.once('unexpected-response', (_req, r) => {
      let body = ''
      r.on('data', (d) => (body += d))
      r.on('end', () => res({ status: r.statusCode!, type: r.headers['content-type'], body }))
    })
    ws.once('open', () => rej(new Error(`${path}: upgrade accepted`)))
    ws.once('error', rej)
  })
}

/** The same URL as a plain GET. */
async function plain(path: string, headers: Record<string, string>): Promise<Answer> {
  const r = await fetch(nb.url + path, { headers })
  return { status: r.status, type: r.headers.get('content-type') ?? undefined, body: await r.text() }
}

const owner = () => ({ 'x-api-key': nb.apiKey })
/** The error envelope without its request id (each request has its own). */
const envelope = (body: string) => {
  const { request_id, ...error } = JSON.parse(body).error
  assert.type(request_id, 'string')
  return { error }
}

test('unknown capsule on exec stream, PTY and process stream; unknown process: 404 with the Wrenn error body', async () => {
  for (const path of ['/v1/capsules/sb-00000000/exec/stream', '/v1/capsules/sb-00000000/pty', '/v1/capsules/sb-00000000/processes/web/stream', `/v1/capsules/${id}/processes/nobody-here/stream`, `/v1/capsules/${id}/processes/4242/stream`]) {
    const u = await upgrade(path, owner())
    const p = await plain(path, owner())
    assert.is(u.status, 404, path)
    assert.match(u.type ?? '', /application\/json/, path)
    const err = JSON.parse(u.body).error
    assert.type(err.code, 'string', path)
    assert.type(err.message, 'string', path)
    assert.equal({ status: u.status, body: envelope(u.body) }, { status: p.status, body: envelope(p.body) }, path)
  }
})

test('other refusals carry their body too: no key, another team, a viewer, a paused capsule', async () => {
  const path = `/v1/capsules/${id}/pty`
  const anon = await upgrade(path, {})
  assert.is(anon.status, 401)
  assert.equal(envelope(anon.body), envelope((await plain(path, {})).body))
  const other = await upgrade(path, { 'x-api-key': who.otherTeamKey })
  assert.is(other.status, 404)
  assert.type(JSON.parse(other.body).error.code, 'string')
  const viewer = await upgrade(path, { 'x-api-key': who.viewer.headers['x-api-key'] })
  assert.is(viewer.status, 403)
  assert.type(JSON.parse(viewer.body).error.message, 'string')
  const paused = await createCapsule(nb)
  assert.is((await call(nb, who.owner, `/v1/capsules/${paused}/pause`, { method: 'POST' })).status < 300, true)
  const p = await upgrade(`/v1/capsules/${paused}/exec/stream`, owner())
  assert.is(p.status, 409)
  assert.equal(envelope(p.body), envelope((await plain(`/v1/capsules/${paused}/exec/stream`, owner())).body))
})

test('an accepted upgrade still works after refused ones on the same server', async () => {
  const ws = new WebSocket(nb.url.replace(/^http/, 'ws') + `/v1/capsules/${id}/exec/stream`, { headers: owner() })
  await new Promise((res, rej) => ws.once('open', res).once('error', rej))
  ws.send(JSON.stringify({ type: 'start', cmd: 'echo up' }))
  const frames: Array<{ type: string; data?: string }> = []
  ws.on('message', (d) => frames.push(JSON.parse(String(d))))
  await new Promise((res) => ws.once('close', res))
  assert.is(frames.filter((f) => f.type === 'stdout').map((f) => f.data).join(''), 'up\n')
})

test('WebSockets still open after a capsule with its own API socket (network nestbox) is destroyed', async () => {
  const gone = await createCapsule(nb, { network: 'nestbox' })
  assert.is((await nb.api(`/v1/capsules/${gone}`, { method: 'DELETE' })).status < 300, true)
  const ws = new WebSocket(nb.url.replace(/^http/, 'ws') + `/v1/capsules/${id}/exec/stream`, { headers: owner() })
  const opened = await new Promise<string>((res) => {
    ws.once('open', () => res('open'))
    ws.once('unexpected-response', (_req, r) => res(`refused ${r.statusCode}`))
    ws.once('error', (e) => res(`error ${e.message}`))
  })
  ws.close()
  assert.is(opened, 'open')
})

test.run()
