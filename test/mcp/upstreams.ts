/** MCP servers the hub tests start on loopback, written with the SDK: Streamable HTTP (stateful) and the older SSE transport. */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { z } from 'zod'

export type Upstream = { url: string; port: number; seen: { authorization: string[] }; calls: number; stop: () => Promise<void>; start: () => Promise<void> }

function tools(label: string, up: { seen: { authorization: string[] }; calls: number }, auth: () => string) {
  const s = new McpServer({ name: label, version: '1.0.0' })
  s.registerTool('echo', { description: `${label} echo`, inputSchema: { text: z.string() } }, async ({ text }) => {
    up.calls++
    return { content: [{ type: 'text', text: `${label}: ${text}` }] }
  })
  s.registerTool('add', { description: 'adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }))
  s.registerTool('secret', { description: 'must be hidden by disallowed_tools', inputSchema: {} }, async () => ({ content: [{ type: 'text', text: 'leaked' }] }))
  s.registerTool('whoami', { description: 'the Authorization header this server received', inputSchema: {} }, async () => ({ content: [{ type: 'text', text: auth() }] }))
  s.registerTool('fail', { description: 'a tool that reports an error', inputSchema: {} }, async () => ({ content: [{ type: 'text', text: 'tool says no' }], isError: true }))
  return s
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return (server.address() as AddressInfo).port
}

function lifecycle(make: () => Server, path: string) {
  let server: Server | null = null
  const up: Upstream = {
    url: '',
    port: 0,
    seen: { authorization: [] },
    calls: 0,
    async start() {
      server = make()
      up.port = await listen(server, up.port)
      up.url = `http://127.0.0.1:${up.port}${path}`
    },
    async stop() {
      if (!server) return
      const s = server
      server = null
      s.closeAllConnections()
      await new Promise<void>((r) => s.close(() => r()))
    },
  }
  return up
}

/**
 * A stateful Streamable HTTP server at /mcp (sessions end when it stops, as a
 * real server's would); it answers POSTs with JSON, or with an event stream
 * when `eventStream` is set (the SDK server's default).
 */
export async function startHttpUpstream(label: string, o: { eventStream?: boolean } = {}): Promise<Upstream> {
  let lastAuth = ''
  const up = lifecycle(() => {
    const sessions = new Map<string, StreamableHTTPServerTransport>()
    return createServer(async (req: IncomingMessage, res: ServerResponse) => {
      up.seen.authorization.push(String(req.headers.authorization ?? ''))
      lastAuth = String(req.headers.authorization ?? '')
      const sid = req.headers['mcp-session-id']
      let t = typeof sid === 'string' ? sessions.get(sid) : undefined
      if (!t) {
        if (typeof sid === 'string') {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }))
          return
        }
        t = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), enableJsonResponse: !o.eventStream, onsessioninitialized: (id) => void sessions.set(id, t!) })
        await tools(label, up, () => lastAuth).connect(t)
      }
      await t.handleRequest(req, res)
    })
  }, '/mcp')
  await up.start()
  return up
}

/** An MCP server on the older HTTP+SSE transport: GET /sse opens the stream, POST /messages?sessionId= sends. */
export async function startSseUpstream(label: string): Promise<Upstream> {
  let lastAuth = ''
  const up = lifecycle(() => {
    const sessions = new Map<string, SSEServerTransport>()
    return createServer(async (req, res) => {
      up.seen.authorization.push(String(req.headers.authorization ?? ''))
      lastAuth = String(req.headers.authorization ?? '')
      const u = new URL(req.url ?? '/', 'http://x')
      if (req.method === 'GET' && u.pathname === '/sse') {
        const t = new SSEServerTransport('/messages', res)
        sessions.set(t.sessionId, t)
        res.on('close', () => sessions.delete(t.sessionId))
        await tools(label, up, () => lastAuth).connect(t)
        return
      }
      const t = sessions.get(u.searchParams.get('sessionId') ?? '')
      if (req.method === 'POST' && u.pathname === '/messages' && t) return void (await t.handlePostMessage(req, res))
      res.writeHead(404).end()
    })
  }, '/sse')
  await up.start()
  return up
}
