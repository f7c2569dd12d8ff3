import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeFrame, encodeFrame, MAX_CHUNK, type Frame } from '../../lib/tunnel/agent-frames.ts'

const raw = (header: string, payload = Buffer.alloc(0), len?: number) => {
  const h = Buffer.from(header)
  const b = Buffer.alloc(4)
  b.writeUInt32BE(len ?? h.length)
  return Buffer.concat([b, h, payload])
}
const refusal = (buf: Buffer) => {
  const d = decodeFrame(buf)
  assert.not.ok(d.ok, 'refused')
  return d as { ok: false; id?: string; error: string }
}

test('frames round-trip: 4-byte big-endian header length, JSON header, raw payload', () => {
  const frames: Array<[Frame, Buffer]> = [
    [{ type: 'request', id: 'r1', method: 'POST', path: '/x?y=1', headers: { a: 'b', 'set-cookie': ['1', '2'] }, done: false }, Buffer.from('body')],
    [{ type: 'stream', id: 'r1', status: 201, headers: { 'content-type': 'text/plain' }, done: false }, Buffer.alloc(0)],
    [{ type: 'stream', id: 'r1', done: true }, Buffer.alloc(MAX_CHUNK, 7)],
    [{ type: 'upgrade', id: 'r2', method: 'GET', path: '/ws', headers: { upgrade: 'websocket' } }, Buffer.alloc(0)],
    [{ type: 'window', id: 'r2', bytes: 65536 }, Buffer.alloc(0)],
    [{ type: 'cancel', id: 'r2', reason: 'gone' }, Buffer.alloc(0)],
    [{ type: 'ping' }, Buffer.alloc(0)],
    [{ type: 'pong' }, Buffer.alloc(0)],
  ]
  for (const [h, p] of frames) {
    const enc = encodeFrame(h, p)
    assert.is(enc.readUInt32BE(0), Buffer.byteLength(JSON.stringify(h)))
    const d = decodeFrame(enc)
    assert.ok(d.ok, h.type)
    if (d.ok) {
      assert.equal(d.frame, h)
      assert.ok(d.payload.equals(p))
    }
  }
})

test('malformed frames are refused with a reason, naming the id when it could be read', () => {
  assert.match(refusal(Buffer.from([0, 0])).error, /shorter/)
  assert.match(refusal(raw('{"type":"ping"}', undefined, 1000)).error, /beyond/)
  assert.match(refusal(raw('{"type":"ping"}', undefined, 0)).error, /outside/)
  assert.match(refusal(raw('{"type":"ping"}', undefined, 0x7fffffff)).error, /outside/)
  assert.match(refusal(raw('{"type":')).error, /not valid JSON/)
  assert.match(refusal(raw('[1,2]')).error, /JSON object/)
  const unknown = refusal(raw('{"type":"teleport","id":"r9"}'))
  assert.match(unknown.error, /unknown frame type/)
  assert.is(unknown.id, 'r9')
  assert.match(refusal(raw('{"type":"stream","id":"r1"}')).error, /done must be a boolean/)
  assert.match(refusal(raw('{"type":"stream","id":"r1","done":false,"status":42}')).error, /status/)
  assert.match(refusal(raw('{"type":"stream","id":"","done":true}')).error, /id/)
  assert.match(refusal(raw('{"type":"stream","id":"r1","done":false}', Buffer.alloc(MAX_CHUNK + 1))).error, /exceeds/)
  assert.match(refusal(raw('{"type":"window","id":"r1","bytes":-5}')).error, /positive/)
  assert.match(refusal(raw('{"type":"request","id":"r1","method":"GET","path":"no-slash","headers":{}}')).error, /path/)
  assert.match(refusal(raw('{"type":"request","id":"r1","method":"GET","path":"/","headers":{"a":1}}')).error, /headers/)
  assert.match(refusal(raw('{"type":"ping"}', Buffer.from('x'))).error, /no payload/)
})

test.run()
