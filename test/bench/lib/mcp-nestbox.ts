/**
 * Child process of test/bench/mcp.ts: one nestbox with the upstream MCP server
 * given as argv[2] (URL) configured as "bench". IPC: → {url, key} once listening; {cpu} → {cpu: process.cpuUsage()}; {exit} stops it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../../lib/core/config/index.ts'
import { silentLogger } from '../../../lib/core/logger.ts'
import { startNestbox } from '../../../lib/http/server.ts'

const KEY = 'sk-bench-mcp-master-key'
const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-bench-mcp-'))
const servers = { bench: { url: process.argv[2], transport: 'http' } }
const argv = ['--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0', '--set', `gateway.masterKey=${KEY}`, '--set', `gateway.mcpServers=${JSON.stringify(servers)}`]
const nb = await startNestbox(loadConfig({ argv, env: {} }), { log: silentLogger })
process.send!({ url: nb.url, key: KEY })
process.on('message', async (m: { exit?: boolean; cpu?: boolean }) => {
  if (m.cpu) process.send!({ cpu: process.cpuUsage() })
  if (m.exit) {
    await nb.close()
    rmSync(dataDir, { recursive: true, force: true })
    process.exit(0)
  }
})
