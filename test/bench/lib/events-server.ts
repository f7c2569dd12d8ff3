/**
 * Child process of test/bench/events.ts: one nestbox in a process of its own, so
 * its RSS can be measured alone. IPC: → {url, key} once listening; {rss} → {rss}
 * (bytes, after a forced GC); {exit} stops it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { loadConfig } from '../../../lib/core/config/index.ts'
import { silentLogger } from '../../../lib/core/logger.ts'
import { startNestbox } from '../../../lib/http/server.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-bench-events-'))
const nb = await startNestbox(loadConfig({ argv: ['--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0'], env: {} }), { log: silentLogger })
const key = /api_key=(\S+)/.exec(readFileSync(join(dataDir, 'bootstrap.txt'), 'utf8'))![1]
process.send!({ url: nb.url, key })
process.on('message', async (m: { rss?: boolean; exit?: boolean }) => {
  if (m.rss) {
    gc()
    gc()
    const m = process.memoryUsage()
    process.send!({ rss: m.rss, heap: m.heapUsed, ext: m.external + m.arrayBuffers, clients: nb.services.events.clients })
  }
  if (m.exit) {
    await nb.close()
    rmSync(dataDir, { recursive: true, force: true })
    process.exit(0)
  }
})
