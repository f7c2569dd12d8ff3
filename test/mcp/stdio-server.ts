/**
 * A stdio MCP server for the hub tests (started by nestbox as `node stdio-server.ts`).
 * If the file named by MCP_FAIL_FILE exists, it exits at once (a crash loop).
 */
import { existsSync } from 'node:fs'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { z } from 'zod'

if (process.env.MCP_FAIL_FILE && existsSync(process.env.MCP_FAIL_FILE)) {
  process.stderr.write('refusing to start: fail file present\n')
  process.exit(3)
}
const server = new McpServer({ name: 'stdio-fixture', version: '1.0.0' })
server.registerTool('echo', { description: 'echoes text', inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `stdio: ${text}` }] }))
server.registerTool('pid', { description: 'the process id', inputSchema: {} }, async () => ({ content: [{ type: 'text', text: String(process.pid) }] }))
server.registerTool('env', { description: 'an environment variable', inputSchema: { name: z.string() } }, async ({ name }) => ({ content: [{ type: 'text', text: process.env[name] ?? '' }] }))
await server.connect(new StdioServerTransport())
