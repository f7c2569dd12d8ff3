/**
 * compat(hybrids3 000): MCP at POST /storage/mcp/ (Streamable HTTP, stateless,
 * official SDK): storage's tools alone, unprefixed (mcp-tools.ts); the same
 * tools are `storage-*` at the /mcp/ hub.
 */
import { silentLogger, type Logger } from '../core/logger.ts'
import { compileSet, listSet, runBuiltin, type CompiledSet } from '../mcp/builtin.ts'
import { serveMcp } from '../mcp/serve.ts'
import { storageTools } from './mcp-tools.ts'
import type { StorageService } from './service.ts'

const compiled = new WeakMap<StorageService, CompiledSet>()

export async function handleMcp(s: StorageService, request: Request, o: { bearer?: string; rootUrl: string; log?: Logger }): Promise<Response> {
  let set = compiled.get(s)
  if (!set) compiled.set(s, (set = compileSet(storageTools(s))))
  const caller = { principal: null, keyName: '', bearer: o.bearer, baseUrl: o.rootUrl }
  return serveMcp(request, 'nestbox-storage', { list: async () => listSet(set, ''), call: (name, args) => runBuiltin(set, name, args, caller, o.log ?? silentLogger) }, {
    maxBodyBytes: Math.ceil((s.maxMcpDownload * 4) / 3) + 1024 * 1024,
  })
}
