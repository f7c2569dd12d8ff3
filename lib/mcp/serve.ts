/**
 * Serves one MCP request (Streamable HTTP, stateless, JSON answers) over a
 * catalog of tools, with the SDK's low-level Server: upstream tools come with
 * JSON Schemas of their own, so the catalog hands out schemas, not zod shapes.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv'
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type Tool } from '@modelcontextprotocol/sdk/types.js'
import { VERSION } from '../core/version.ts'
import type { ToolResult } from './types.ts'

export type Catalog = {
  list: () => Promise<Tool[]>
  /** The tool's result, or null when there is no such tool (a JSON-RPC error, as the SDK's own server answers). */
  call: (name: string, args: Record<string, unknown>) => Promise<ToolResult | null>
}

// One validator for every request: a Server builds a new Ajv instance per construction otherwise (about half a millisecond).
const validator = new AjvJsonSchemaValidator()

export async function serveMcp(request: Request, name: string, catalog: Catalog, o: { maxBodyBytes?: number } = {}): Promise<Response> {
  // Stateless: no server-initiated messages and no sessions, so no GET stream to hold open and nothing to DELETE (the spec's 405).
  if (request.method !== 'POST') return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this server is stateless; use POST' }, id: null }), { status: 405, headers: { allow: 'POST', 'content-type': 'application/json' } })
  const server = new Server({ name, version: VERSION }, { capabilities: { tools: {} }, jsonSchemaValidator: validator })
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await catalog.list() }))
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const r = await catalog.call(req.params.name, req.params.arguments ?? {})
    if (!r) throw new McpError(ErrorCode.InvalidParams, `Tool ${req.params.name} not found`)
    return r
  })
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true, ...(o.maxBodyBytes ? { maxRequestBodySize: o.maxBodyBytes } : {}) })
  await server.connect(transport)
  // Not closed after: nothing outside holds the pair, and close() builds an McpError and an abort DOMException (stack traces) per request.
  return transport.handleRequest(request)
}
