/**
 * What a service hands the MCP hub: a named set of tools. A later service
 * (claudebox, browser, runs) registers its set with `mcp.register(set)`; the
 * hub serves it at /mcp/ as `{set}-{tool}` beside the upstream servers.
 */
import type { z } from 'zod'
import type { Principal } from '../core/principal.ts'

export type ToolResult = { content: Array<{ type: 'text'; text: string } | { type: 'image'; data: string; mimeType: string }>; isError?: boolean; structuredContent?: Record<string, unknown> }

/** Who calls a tool: the resolved key and, when it belongs to a team, the principal that acts for it. */
export type ToolCaller = {
  /** Acts as the key's team; null for keys without one (the gateway master key). */
  principal: Principal | null
  /** The key as audit entries name it (alias or masked key); "" at /storage/mcp/. */
  keyName: string
  /** The raw Bearer token of the request (only /storage/mcp/ uses it, as a bucket key). */
  bearer?: string
  /** This server's base URL as the client reached it (for links such as presigned URLs). */
  baseUrl: string
}

export type BuiltinTool<S extends z.ZodRawShape = z.ZodRawShape> = {
  name: string
  description: string
  input: S
  run: (args: z.infer<z.ZodObject<S>>, caller: ToolCaller) => Promise<ToolResult>
}

export type ToolSet = { name: string; description: string; tools: BuiltinTool[] }

/** Declares a tool with its argument types checked against its zod shape. */
export const defineTool = <S extends z.ZodRawShape>(t: BuiltinTool<S>): BuiltinTool => t as unknown as BuiltinTool

export const textResult = (v: unknown): ToolResult => ({ content: [{ type: 'text', text: typeof v === 'string' ? v : JSON.stringify(v) }] })
export const errorResult = (text: string): ToolResult => ({ content: [{ type: 'text', text }], isError: true })

/** The servers a caller may use (the gateway decides, from object_permission); null = all. */
export type McpAccess = { servers: string[] | null }
export const allows = (a: McpAccess, server: string) => a.servers === null || a.servers.includes(server)

/** compat(litellm): the `x-mcp-servers` header (comma-separated names) narrows what a key may use; it never grants more. */
export function narrow(a: McpAccess, header: string | undefined): McpAccess {
  const want = header?.split(',').map((s) => s.trim()).filter(Boolean)
  if (!want?.length) return a
  return { servers: a.servers === null ? want : a.servers.filter((s) => want.includes(s)) }
}
