/**
 * Child process of test/bench/events.ts: one nestbox in a process of its own, so
 * its RSS can be measured alone. IPC: → {url, key} once listening; {rss} → {rss}
 * (bytes, after a forced GC); {exit} stops it. With argv "bare": a plain node:http
 * server that answers every request with an idle event stream (the control).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { loadConfig } from '../../../lib/core/config/index.ts'
import { silentLogger } from '../../../lib/core/logger.ts'
import { startNestbox } from '../../../lib/http/server.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
if (process.argv[2] === 'bare') {
  const streams = new Set<ServerResponse>()
  const srv = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('event: connected\ndata: {}\n\n')
    streams.add(res)
    res.on('close', () => streams.delete(res))
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  process.send!({ url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`, key: 'none' })
  process.on('message', (m: { rss?: boolean; exit?: boolean }) => {
    if (m.rss) {
      gc()
      gc()
      const u = process.memoryUsage()
      process.send!({ rss: u.rss, heap: u.heapUsed, clients: streams.size })
    }
    if (m.exit) process.exit(0)
  })
} else {
const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-bench-events-'))
const nb = await startNestbox(loadConfig({ argv: ['--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0'], env: {} }), { log: silentLogger })
const key = /api_key=(\S+)/.exec(readFileSync(join(dataDir, 'bootstrap.txt'), 'utf8'))![1]
process.send!({ url: nb.url, key })
process.on('message', async (m: { rss?: boolean; exit?: boolean }) => {
  if (m.rss) {
    gc()
    gc()
    const m = process.memoryUsage()
    process.send!({ rss: m.rss, heap: m.heapUsed, clients: nb.services.events.clients })
  }
  if (m.exit) {
    await nb.close()
    rmSync(dataDir, { recursive: true, force: true })
    process.exit(0)
  }
})
}
