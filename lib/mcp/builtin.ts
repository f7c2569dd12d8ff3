/** Runs nestbox's own tool sets: JSON Schemas from their zod shapes, arguments checked before a tool runs. */
import { z } from 'zod'
import type { Tool } from '@modelcontextprotocol/sdk/types.js'
import { isAppError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { errorResult, type BuiltinTool, type ToolCaller, type ToolResult, type ToolSet } from './types.ts'

type Compiled = { tool: BuiltinTool; schema: z.ZodObject<z.ZodRawShape>; listing: Omit<Tool, 'name'> }

export type CompiledSet = { name: string; description: string; tools: Map<string, Compiled> }

export function compileSet(set: ToolSet): CompiledSet {
  const tools = new Map<string, Compiled>()
  for (const tool of set.tools) {
    if (tools.has(tool.name)) throw new Error(`tool set ${set.name}: tool ${tool.name} defined twice`)
    const schema = z.object(tool.input)
    const { $schema: _s, ...inputSchema } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>
    tools.set(tool.name, { tool, schema, listing: { description: tool.description, inputSchema: inputSchema as Tool['inputSchema'] } })
  }
  return { name: set.name, description: set.description, tools }
}

/** Lists a set's tools under `prefix` ("" at the set's own endpoint, "storage-" at /mcp/). */
export const listSet = (s: CompiledSet, prefix: string): Tool[] => [...s.tools.entries()].map(([name, c]) => ({ name: prefix + name, ...c.listing }))

/** Runs one tool; domain errors become tool errors with their message, anything else a logged generic one. */
export async function runBuiltin(s: CompiledSet, name: string, args: Record<string, unknown>, caller: ToolCaller, log: Logger): Promise<ToolResult | null> {
  const c = s.tools.get(name)
  if (!c) return null
  const parsed = c.schema.safeParse(args)
  if (!parsed.success) return errorResult(`invalid arguments for ${name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; ')}`)
  try {
    return await c.tool.run(parsed.data, caller)
  } catch (e) {
    if (isAppError(e) && e.status < 500) return errorResult(e.message)
    log.error('mcp: built-in tool failed', { err: e, tool: `${s.name}-${name}` })
    return errorResult(isAppError(e) ? e.message : `${name} failed with an internal error`)
  }
}
