/** compat(claudebox 000): MCP at {surface}/mcp/ (Streamable HTTP, stateless): the surface's tools, unprefixed (mcp-tools.ts). */
import { Hono } from 'hono'
import type { Logger } from '../core/logger.ts'
import type { AppEnv } from '../http/types.ts'
import { compileSet, listSet, runBuiltin } from '../mcp/builtin.ts'
import { serveMcp } from '../mcp/serve.ts'
import { claudeboxTools } from './mcp-tools.ts'
import { bearerOf } from './routes.claudebox.ts'
import type { Claudebox } from './service.ts'

export function claudeboxMcpRoutes(cb: Claudebox, log: Logger) {
  const set = compileSet(claudeboxTools(cb))
  const r = new Hono<AppEnv>()
  const handle = async (c: import('hono').Context<AppEnv>) => {
    await cb.authenticate(bearerOf(c))
    return serveMcp(c.req.raw, `nestbox-${cb.name}`, {
      list: async () => listSet(set, ''),
      call: (name, args) => runBuiltin(set, name, args, { principal: null, keyName: '', bearer: bearerOf(c) ?? '', baseUrl: new URL(c.req.url).origin }, log),
    })
  }
  r.all('/mcp', handle)
  r.all('/mcp/', handle)
  return r
}
