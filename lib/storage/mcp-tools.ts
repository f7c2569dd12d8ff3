/**
 * Storage's MCP tools, served alone at /storage/mcp/ (routes.mcp.ts) and as
 * `storage-*` at the /mcp/ hub. compat(hybrids3 000): every tool takes an
 * optional auth_key (bucket key or master key); without it /storage/mcp/ uses
 * the request's Bearer key, the hub none (its keys are not storage keys).
 */
import { z } from 'zod'
import { isAppError } from '../core/errors.ts'
import { iso } from '../core/ids.ts'
import { defineTool, errorResult, textResult, type ToolCaller, type ToolResult, type ToolSet } from '../mcp/types.ts'
import type { StorageService } from './service.ts'
import type { ObjectInfo, StorageCaller } from './types.ts'

const info = (o: ObjectInfo) => ({ bucket: o.bucket, key: o.key, size: o.size, etag: o.etag, content_type: o.contentType, last_modified: iso(o.lastModified), expires_at: iso(o.expiresAt), metadata: o.meta })

function fail(e: unknown): ToolResult {
  if (!isAppError(e)) throw e
  // Same rule as the JSON API: a forbidden bucket looks like a missing one.
  return errorResult(e.status === 401 || e.status === 403 || e.status === 404 ? 'not found' : e.message)
}

const authKey = z.string().optional().describe('bucket key or master key; defaults to the request\'s Bearer key at /storage/mcp/')

export function storageTools(s: StorageService): ToolSet {
  const who = (key: string | undefined, c: ToolCaller): StorageCaller => {
    const k = key ?? c.bearer
    if (!k) return { kind: 'anonymous' }
    return s.callerForKey(k) ?? { kind: 'anonymous' }
  }
  const tool = <A extends z.ZodRawShape>(name: string, description: string, input: A, run: (a: z.infer<z.ZodObject<A>>, c: StorageCaller, t: ToolCaller) => Promise<ToolResult>) =>
    defineTool({
      name,
      description,
      input,
      run: async (a, t) => {
        try {
          return await run(a, who((a as { auth_key?: string }).auth_key, t), t)
        } catch (e) {
          return fail(e)
        }
      },
    })

  return {
    name: 'storage',
    description: 'S3-compatible object storage: buckets and objects',
    tools: [
      tool('list_buckets', 'List the buckets this key can see', { auth_key: authKey }, async (_a, c) => textResult(s.listBuckets(c).map((b) => ({ name: b.name, public: b.publicRead, ttl_seconds: b.ttlSeconds })))),
      tool('list_objects', 'List objects in a bucket', { bucket: z.string(), prefix: z.string().optional(), max_keys: z.number().int().min(1).max(1000).optional(), auth_key: authKey }, async (a, c) => {
        const page = await s.listObjects(c, a.bucket, { prefix: a.prefix, maxKeys: a.max_keys ?? 1000 })
        return textResult({ objects: page.objects.map(info), is_truncated: page.truncated })
      }),
      tool('object_info', 'Metadata of one object', { bucket: z.string(), key: z.string(), auth_key: authKey }, async (a, c) => textResult(info((await s.headObject(c, a.bucket, a.key)).info))),
      tool('upload', 'Upload an object from text or base64 content', { bucket: z.string(), key: z.string(), content: z.string().optional(), content_base64: z.string().optional(), auth_key: authKey }, async (a, c) => {
        if ((a.content === undefined) === (a.content_base64 === undefined)) return errorResult('give exactly one of content or content_base64')
        const bytes = a.content !== undefined ? Buffer.from(a.content, 'utf8') : Buffer.from(a.content_base64!, 'base64')
        if (bytes.length > s.maxMcpDownload) return errorResult(`content exceeds the MCP limit of ${s.maxMcpDownload} bytes; use the S3 API`)
        return textResult(info(await s.putObject(c, a.bucket, a.key, [bytes], { declared: { contentLength: bytes.length } })))
      }),
      tool('download', 'Download an object (text, or base64 for binary); at most the configured MCP limit', { bucket: z.string(), key: z.string(), auth_key: authKey }, async (a, c) => {
        const head = await s.headObject(c, a.bucket, a.key)
        if (head.info.size > s.maxMcpDownload) return errorResult(`object is ${head.info.size} bytes; the MCP download limit is ${s.maxMcpDownload}. Use presign instead.`)
        const d = await s.getObject(c, a.bucket, a.key)
        if (d.status === 304) throw new Error('unexpected 304')
        const buf = Buffer.from(await new Response(d.body.web()).arrayBuffer())
        let text: string | null = null
        try {
          text = new TextDecoder('utf-8', { fatal: true }).decode(buf)
        } catch {
          text = null
        }
        return textResult({ ...info(d.info), encoding: text === null ? 'base64' : 'utf-8', content: text ?? buf.toString('base64') })
      }),
      tool('delete', 'Delete an object (succeeds if it does not exist)', { bucket: z.string(), key: z.string(), auth_key: authKey }, async (a, c) => {
        await s.deleteObject(c, a.bucket, a.key)
        return textResult({ deleted: true })
      }),
      tool('presign', 'A URL to download the object without a key', { bucket: z.string(), key: z.string(), expires: z.number().int().min(1).max(604800).optional(), auth_key: authKey }, async (a, c, t) =>
        textResult(s.presign(c, a.bucket, a.key, { expires: a.expires, baseUrl: t.baseUrl + '/storage' })),
      ),
    ],
  }
}
