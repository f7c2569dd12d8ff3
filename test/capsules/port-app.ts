/**
 * The app the port tests run inside a capsule (python3 from the host, seen
 * read-only inside): GET /big?n=[&chunked] streams n MiB (bigBody(n)), /sse sends 3 events,
 * /ws echoes (RFC 6455), POST answers its body's length and sha256 (sized or
 * chunked), any
 * other GET echoes the path and headers it got.
 */
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import type { TestNestbox } from '../harness.ts'
import { exec } from './fixtures.ts'

const APP = String.raw`
import base64, hashlib, http.server, json, socketserver, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a): pass
    def body(self):
        if self.headers.get('transfer-encoding', '').lower() != 'chunked': return self.rfile.read(int(self.headers.get('content-length', 0)))
        out = b''
        while True:
            n = int(self.rfile.readline().split(b';')[0], 16)
            if n == 0: self.rfile.readline(); return out
            out += self.rfile.read(n); self.rfile.readline()
    def do_POST(self):
        body = self.body()
        out = json.dumps({'len': len(body), 'sha': hashlib.sha256(body).hexdigest()}).encode()
        self.send_response(200); self.send_header('content-length', str(len(out))); self.end_headers(); self.wfile.write(out)
    def do_GET(self):
        if self.path.startswith('/big'):
            n = int(self.path.split('n=')[1].split('&')[0]); chunked = self.path.endswith('&chunked'); self.send_response(200)
            self.send_header(*(('transfer-encoding', 'chunked') if chunked else ('content-length', str(n << 20)))); self.end_headers()
            for i in range(n):
                chunk = hashlib.sha256(b'%d' % i).digest() * 32768
                self.wfile.write(b'%x\r\n%s\r\n' % (len(chunk), chunk) if chunked else chunk)
            if chunked: self.wfile.write(b'0\r\n\r\n')
        elif self.path == '/sse':
            self.send_response(200); self.send_header('content-type', 'text/event-stream'); self.send_header('transfer-encoding', 'chunked'); self.end_headers()
            for i in range(3):
                data = ('data: %d\n\n' % i).encode(); self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data)); self.wfile.flush(); time.sleep(0.2)
            self.wfile.write(b'0\r\n\r\n')
        elif self.path == '/ws':
            key = self.headers['sec-websocket-key']
            acc = base64.b64encode(hashlib.sha1((key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode()
            self.send_response(101); self.send_header('upgrade', 'websocket'); self.send_header('connection', 'Upgrade'); self.send_header('sec-websocket-accept', acc); self.end_headers(); self.wfile.flush()
            while True:
                h = self.rfile.read(2)
                if len(h) < 2 or h[0] & 0x0f == 8: return
                n = h[1] & 0x7f; mask = self.rfile.read(4); data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
                self.wfile.write(bytes([0x81, len(data) + 5]) + b'echo:' + data); self.wfile.flush()
        else:
            out = json.dumps({'path': self.path, 'headers': {k.lower(): v for k, v in self.headers.items()}}).encode()
            self.send_response(200); self.send_header('content-type', 'application/json'); self.send_header('content-length', str(len(out))); self.end_headers(); self.wfile.write(out)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer): daemon_threads = True
S(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
`

/** Starts the app on `port` and waits until the port proxy reaches it. */
export async function startApp(nb: TestNestbox, capsule: string, port: number) {
  const w = await exec(nb, capsule, { cmd: 'sh', args: ['-c', `mkdir -p /srv && echo ${Buffer.from(APP).toString('base64')} | base64 -d > /srv/app.py`] })
  assert.is(w.body.exit_code, 0, w.body.stderr)
  const r = await nb.api(`/v1/capsules/${capsule}/exec`, { method: 'POST', json: { cmd: '/usr/bin/python3', args: ['/srv/app.py', String(port)], background: true } })
  assert.is(r.status, 202, await r.text())
  // python's start is slow on a busy machine: wait up to 30 s
  for (let i = 0; i < 600; i++) {
    if ((await nb.api(`/v1/capsules/${capsule}/ports/${port}/ping`)).status === 200) return
    await new Promise((res) => setTimeout(res, 50))
  }
  throw new Error('app did not start')
}


/** What GET /big?n= answers: MiB i is sha256(i) repeated. */
export function bigBody(n: number): Buffer {
  return Buffer.concat(Array.from({ length: n }, (_, i) => Buffer.alloc(1 << 20, createHash('sha256').update(String(i)).digest())))
}
