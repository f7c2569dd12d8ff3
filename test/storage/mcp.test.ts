/** MCP at /storage/mcp/ through the official SDK client (Streamable HTTP). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { OTHER_KEY, PRIVATE_KEY, startStorage, type StorageNestbox } from './helpers.ts'

let nb: StorageNestbox
let client: Client
test.before(async () => {
  nb = await startStorage({ 'storage.mcpMaxDownloadMb': 1 })
  client = new Client({ name: 'storage-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(nb.url + '/storage/mcp/')))
})
test.after(async () => {
  await client.close()
  await nb.close()
})

type Result = { content: Array<{ type: string; text: string }>; isError?: boolean }
const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as Result
const json = (r: Result) => JSON.parse(r.content[0].text)

test('lists the storage tools', async () => {
  const { tools } = await client.listTools()
  assert.equal(tools.map((t) => t.name).sort(), ['delete', 'download', 'list_buckets', 'list_objects', 'object_info', 'presign', 'upload'])
})

test('upload, object info, list, download (text and binary), presign, delete', async () => {
  const up = await call('upload', { bucket: 'private', key: 'mcp/note.md', content: '# hello from mcp', auth_key: PRIVATE_KEY })
  assert.not.ok(up.isError, up.content[0].text)
  assert.is(json(up).size, 16)
  await call('upload', { bucket: 'private', key: 'mcp/bin', content_base64: Buffer.from([0, 255, 1, 254]).toString('base64'), auth_key: PRIVATE_KEY })
  const info = json(await call('object_info', { bucket: 'private', key: 'mcp/note.md', auth_key: PRIVATE_KEY }))
  assert.is(info.content_type, 'text/markdown')
  const list = json(await call('list_objects', { bucket: 'private', prefix: 'mcp/', auth_key: PRIVATE_KEY }))
  assert.equal(list.objects.map((o: { key: string }) => o.key), ['mcp/bin', 'mcp/note.md'])
  const text = json(await call('download', { bucket: 'private', key: 'mcp/note.md', auth_key: PRIVATE_KEY }))
  assert.is(text.content, '# hello from mcp')
  const bin = json(await call('download', { bucket: 'private', key: 'mcp/bin', auth_key: PRIVATE_KEY }))
  assert.equal([bin.encoding, bin.content], ['base64', 'AP8B/g=='])
  const p = json(await call('presign', { bucket: 'private', key: 'mcp/note.md', expires: 60, auth_key: PRIVATE_KEY }))
  assert.is(p.expires, 60)
  assert.is(await (await fetch(p.url)).text(), '# hello from mcp')
  const buckets = json(await call('list_buckets', { auth_key: nb.masterKey }))
  assert.equal(buckets.map((b: { name: string }) => b.name), ['other', 'private', 'tiny', 'uploads'])
  assert.not.ok((await call('delete', { bucket: 'private', key: 'mcp/bin', auth_key: PRIVATE_KEY })).isError)
  assert.is((await call('object_info', { bucket: 'private', key: 'mcp/bin', auth_key: PRIVATE_KEY })).content[0].text, 'not found')
})

test('per-tool auth: no key, a wrong key or another bucket\'s key all look like "not found"', async () => {
  for (const auth_key of [undefined, 'wrong', OTHER_KEY]) {
    const r = await call('download', { bucket: 'private', key: 'mcp/note.md', ...(auth_key ? { auth_key } : {}) })
    assert.is(r.isError, true)
    assert.is(r.content[0].text, 'not found')
    const u = await call('upload', { bucket: 'private', key: 'mcp/evil', content: 'x', ...(auth_key ? { auth_key } : {}) })
    assert.is(u.isError, true)
  }
  assert.is((await call('list_buckets', {})).isError, true)
})

test('download is capped (here at 1 MiB); larger objects point to presign', async () => {
  await fetch(`${nb.url}/storage/private/mcp/big`, { method: 'PUT', body: Buffer.alloc(1024 * 1024 + 1), headers: { authorization: `Bearer ${PRIVATE_KEY}` } })
  const r = await call('download', { bucket: 'private', key: 'mcp/big', auth_key: PRIVATE_KEY })
  assert.is(r.isError, true)
  assert.match(r.content[0].text, /limit/)
})

test.run()
