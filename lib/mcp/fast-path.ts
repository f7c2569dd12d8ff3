/**
 * tools/list and tools/call answered without building an SDK Server and
 * transport per request (their construction, the Web Request/Response pair
 * and the transport's stream bookkeeping were most of the hub's CPU per call).
 * Only the plain case takes this path: a single JSON-RPC request with those
 * methods, the headers SDK clients send (Accept with both types, Content-Type
 * exactly application/json, a supported or absent protocol version), and
 * params the SDK's own schema accepts. Anything else — initialize,
 * notifications, batches, malformed input — is left to the SDK's transport,
 * so its errors stay the SDK's. The answer is what the SDK's Server writes:
 * the same result validation, the same error codes and messages.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { CallToolRequestSchema, CallToolResultSchema, ErrorCode, ListToolsRequestSchema, McpError, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js'
import type { Catalog } from './serve.ts'

export type FastRequest = { id: string | number; method: 'tools/list' } | { id: string | number; method: 'tools/call'; name: string; args: Record<string, unknown> }

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(', ') : v)

/** Whether the headers are ones the SDK's transport accepts without comment (else it answers them itself). */
export function fastHeaders(h: IncomingHttpHeaders): boolean {
  const accept = one(h.accept)
  if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) return false
  if (h['content-type'] !== 'application/json') return false
  const version = one(h['mcp-protocol-version'])
  return version === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(version)
}

/** The message as a request this path answers, or null to hand it to the SDK. */
export function fastRequest(msg: unknown): FastRequest | null {
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return null
  const m = msg as { jsonrpc?: unknown; id?: unknown; method?: unknown }
  if (m.jsonrpc !== '2.0' || !(typeof m.id === 'string' || Number.isInteger(m.id))) return null
  const id = m.id as string | number
  if (m.method === 'tools/list') return ListToolsRequestSchema.safeParse(msg).success ? { id, method: 'tools/list' } : null
  if (m.method !== 'tools/call') return null
  const p = CallToolRequestSchema.safeParse(msg)
  // A task-augmented call (params.task) has a different result shape: the SDK handles it.
  if (!p.success || p.data.params.task) return null
  return { id, method: 'tools/call', name: p.data.params.name, args: p.data.params.arguments ?? {} }
}

/** compat(mcp sdk): an error answer as the SDK's Protocol writes one for a handler that threw. */
function errorAnswer(id: string | number, e: unknown): string {
  const err = e as { code?: unknown; message?: unknown; data?: unknown }
  const code = Number.isSafeInteger(err?.code) ? (err.code as number) : ErrorCode.InternalError
  const message = typeof err?.message === 'string' && err.message ? err.message : 'Internal error'
  return JSON.stringify({ jsonrpc: '2.0', id, error: { code, message, ...(err?.data !== undefined ? { data: err.data } : {}) } })
}

/** The JSON text of the answer to `r` from `catalog` (always a JSON-RPC response; HTTP status 200). */
export async function answerFast(r: FastRequest, catalog: Catalog): Promise<string> {
  try {
    if (r.method === 'tools/list') return JSON.stringify({ result: { tools: await catalog.list() }, jsonrpc: '2.0', id: r.id })
    const out = await catalog.call(r.name, r.args)
    if (!out) throw new McpError(ErrorCode.InvalidParams, `Tool ${r.name} not found`)
    const valid = CallToolResultSchema.safeParse(out)
    if (!valid.success) throw new McpError(ErrorCode.InvalidParams, `Invalid tools/call result: ${valid.error.message}`)
    return JSON.stringify({ result: valid.data, jsonrpc: '2.0', id: r.id })
  } catch (e) {
    return errorAnswer(r.id, e)
  }
}
