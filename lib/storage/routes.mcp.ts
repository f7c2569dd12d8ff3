/**
 * compat(hybrids3 000): MCP at POST /storage/mcp/ (Streamable HTTP, stateless,
 * official SDK). Every tool takes an optional auth_key (bucket key or master
 * key); without it the request's Bearer key is used, else the call is anonymous.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { z } from 'zod'
import { isAppError } from '../core/errors.ts'
import { iso } from '../core/ids.ts'
import { VERSION } from '../core/version.ts'
import type { StorageService } from './service.ts'
import type { ObjectInfo, StorageCaller } from './types.ts'

type ToolResult = { content: Array<{ type: 'text'; text: string }>; isError?: boolean }

const info = (o: ObjectInfo) => ({ bucket: o.bucket, key: o.key, size: o.size, etag: o.etag, content_type: o.contentType, last_modified: iso(o.lastModified), expires_at: iso(o.expiresAt), metadata: o.meta })
const ok = (v: unknown): ToolResult => ({ content: [{ type: 'text', text: typeof v === 'string' ? v : JSON.stringify(v) }] })

function fail(e: unknown): ToolResult {
  if (!isAppError(e)) throw e
  // Same rule as the JSON API: a forbidden bucket looks like a missing one.
  const text = e.status === 401 || e.status === 403 || e.status === 404 ? 'not found' : e.message
  return { content: [{ type: 'text', text }], isError: true }
}

const authKey = z.string().optional().describe('bucket key or master key; defaults to the request\'s Bearer key')

function buildServer(s: StorageService, bearer: string | undefined, baseUrl: string) {
  const server = new McpServer({ name: 'nestbox-storage', version: VERSION })
  const who = (key: string | undefined): StorageCaller => {
    const k = key ?? bearer
    if (!k) return { kind: 'anonymous' }
    return s.callerForKey(k) ?? { kind: 'anonymous' }
  }
  const tool = <A extends z.ZodRawShape>(name: string, description: string, shape: A, run: (a: z.infer<z.ZodObject<A>>, c: StorageCaller) => Promise<ToolResult>) =>
    server.registerTool(name, { description, inputSchema: shape }, (async (a: z.infer<z.ZodObject<A>> & { auth_key?: string }) => {
      try {
        return await run(a, who(a.auth_key))
      } catch (e) {
        return fail(e)
      }
    }) as never)

  tool('list_buckets', 'List the buckets this key can see', { auth_key: authKey }, async (_a, c) => ok(s.listBuckets(c).map((b) => ({ name: b.name, public: b.publicRead, ttl_seconds: b.ttlSeconds }))))
  tool('list_objects', 'List objects in a bucket', { bucket: z.string(), prefix: z.string().optional(), max_keys: z.number().int().min(1).max(1000).optional(), auth_key: authKey }, async (a, c) => {
    const page = await s.listObjects(c, a.bucket, { prefix: a.prefix, maxKeys: a.max_keys ?? 1000 })
    return ok({ objects: page.objects.map(info), is_truncated: page.truncated })
  })
  tool('object_info', 'Metadata of one object', { bucket: z.string(), key: z.string(), auth_key: authKey }, async (a, c) => ok(info((await s.headObject(c, a.bucket, a.key)).info)))
  tool('upload', 'Upload an object from text or base64 content', { bucket: z.string(), key: z.string(), content: z.string().optional(), content_base64: z.string().optional(), auth_key: authKey }, async (a, c) => {
    if ((a.content === undefined) === (a.content_base64 === undefined)) return { content: [{ type: 'text', text: 'give exactly one of content or content_base64' }], isError: true }
    const bytes = a.content !== undefined ? Buffer.from(a.content, 'utf8') : Buffer.from(a.content_base64!, 'base64')
    if (bytes.length > s.maxMcpDownload) return { content: [{ type: 'text', text: `content exceeds the MCP limit of ${s.maxMcpDownload} bytes; use the S3 API` }], isError: true }
    const o = await s.putObject(c, a.bucket, a.key, [bytes], { declared: { contentLength: bytes.length } })
    return ok(info(o))
  })
  tool('download', 'Download an object (text, or base64 for binary); at most the configured MCP limit', { bucket: z.string(), key: z.string(), auth_key: authKey }, async (a, c) => {
    const head = await s.headObject(c, a.bucket, a.key)
    if (head.info.size > s.maxMcpDownload) return { content: [{ type: 'text', text: `object is ${head.info.size} bytes; the MCP download limit is ${s.maxMcpDownload}. Use presign instead.` }], isError: true }
    const d = await s.getObject(c, a.bucket, a.key)
    if (d.status === 304) throw new Error('unexpected 304')
    const buf = Buffer.from(await new Response(d.body.web()).arrayBuffer())
    let text: string | null = null
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf)
    } catch {
      text = null
    }
    return ok({ ...info(d.info), encoding: text === null ? 'base64' : 'utf-8', content: text ?? buf.toString('base64') })
  })
  tool('delete', 'Delete an object (succeeds if it does not exist)', { bucket: z.string(), key: z.string(), auth_key: authKey }, async (a, c) => {
    await s.deleteObject(c, a.bucket, a.key)
    return ok({ deleted: true })
  })
  tool('presign', 'A URL to download the object without a key', { bucket: z.string(), key: z.string(), expires: z.number().int().min(1).max(604800).optional(), auth_key: authKey }, async (a, c) =>
    ok(s.presign(c, a.bucket, a.key, { expires: a.expires, baseUrl })),
  )
  return server
}

export async function handleMcp(s: StorageService, request: Request, o: { bearer?: string; baseUrl: string }): Promise<Response> {
  const server = buildServer(s, o.bearer, o.baseUrl)
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
    maxRequestBodySize: Math.ceil((s.maxMcpDownload * 4) / 3) + 1024 * 1024,
  })
  await server.connect(transport)
  try {
    return await transport.handleRequest(request)
  } finally {
    void server.close()
  }
}
