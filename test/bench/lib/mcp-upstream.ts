/**
 * An MCP server for test/bench/mcp.ts in a process of its own: Streamable HTTP
 * (stateful, JSON answers) at /mcp with one `echo` tool. Usage: node mcp-upstream.ts PORT
 * IPC: → 'ready' once listening; {cpu} → {cpu: process.cpuUsage()}.
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { z } from 'zod'

const sessions = new Map<string, StreamableHTTPServerTransport>()
createServer(async (req, res) => {
  const sid = req.headers['mcp-session-id']
  let t = typeof sid === 'string' ? sessions.get(sid) : undefined
  if (!t) {
    const s = new McpServer({ name: 'bench-upstream', version: '1.0.0' })
    s.registerTool('echo', { description: 'echoes text', inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }))
    t = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), enableJsonResponse: true, onsessioninitialized: (id) => void sessions.set(id, t!) })
    await s.connect(t)
  }
  await t.handleRequest(req, res)
}).listen(Number(process.argv[2]), '127.0.0.1', () => process.send?.('ready'))
process.on('message', (m: { cpu?: boolean }) => {
  if (m.cpu) process.send!({ cpu: process.cpuUsage() })
})
