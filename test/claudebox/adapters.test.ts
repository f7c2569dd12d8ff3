/** claudebox's files API, OpenAI-compatible endpoint (openai SDK) and MCP server (SDK client), with the real CLI. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import OpenAI from 'openai'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { allUserText, lastUser } from './fake-upstream.ts'
import { cbx, MASTER, startBox, type Box } from './helpers.ts'

let b: Box
test.before(async () => {
  b = await startBox()
})
test.after(async () => {
  await b?.close()
})

test('a large upload with curl (Expect: 100-continue) gets its 100 Continue when the route reads the body', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nestbox-cbx-put-'))
  try {
    const data = randomBytes(9 * 1024 * 1024) // deferred (http/continue.ts) from 8 MiB on
    writeFileSync(join(dir, 'big.bin'), data)
    const { stdout } = await promisify(execFile)('curl', ['-sS', '-D', '-', '-T', join(dir, 'big.bin'), '-H', `authorization: Bearer ${b.token}`, `${b.nb.url}/claudebox/files/docs/big.bin`], { encoding: 'utf8' })
    assert.match(stdout, /^HTTP\/1.1 100 Continue/)
    assert.match(stdout, /"size":9437184/)
    const back = Buffer.from(await (await cbx(b, '/files/docs/big.bin')).arrayBuffer())
    assert.is(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(data).digest('hex'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await cbx(b, '/files/docs/big.bin', { method: 'DELETE' })
  }
})

test('files: upload, list, download, delete; unknown workspace 404; paths outside the root 400', async () => {
  const put = await cbx(b, '/files/docs/notes/a.txt', { method: 'PUT', body: 'alpha\n' })
  assert.equal(await put.json(), { status: 'ok', path: 'notes/a.txt', size: 6 })
  assert.is(await (await cbx(b, '/files/docs/notes/a.txt')).text(), 'alpha\n')
  const root = await (await cbx(b, '/files/docs')).json()
  assert.equal(root, { path: '', entries: [{ name: 'notes', type: 'dir' }] })
  assert.equal((await (await cbx(b, '/files/docs/notes')).json()).entries, [{ name: 'a.txt', type: 'file', size: 6 }])
  assert.ok((await (await cbx(b, '/files')).json()).entries.some((e: { name: string }) => e.name === 'docs'))
  assert.is((await cbx(b, '/files/nope/a.txt')).status, 404)
  assert.is((await cbx(b, '/files/docs/missing.txt')).status, 404)
  const out = await cbx(b, '/files/docs/..%2f..%2fetc%2fpasswd')
  assert.is(out.status, 400)
  assert.match((await out.json()).error, /outside the workspace/)
  assert.is((await cbx(b, '/files/docs/..%2fx', { method: 'PUT', body: 'x' })).status, 400)
  assert.equal(await (await cbx(b, '/files/docs/notes/a.txt', { method: 'DELETE' })).json(), { status: 'ok', path: 'notes/a.txt' })
  assert.is((await cbx(b, '/files/docs/notes/a.txt')).status, 404)
  assert.is((await cbx(b, '/files/docs/notes/a.txt', { method: 'DELETE' })).status, 404)
})

test('OpenAI adapter through the openai package: models, a system prompt, streaming, workspace headers', async () => {
  const ai = new OpenAI({ apiKey: b.token, baseURL: `${b.nb.url}/claudebox/openai/v1`, maxRetries: 0 })
  const models = await ai.models.list()
  assert.equal(models.data.map((m) => m.id).sort(), ['haiku', 'opus', 'opusplan', 'sonnet'])
  const r = await ai.chat.completions.create({ model: 'claudebox-haiku', messages: [{ role: 'system', content: 'You are PIRATE-BOT.' }, { role: 'user', content: 'ahoy' }] }, { headers: { 'X-Claude-Workspace': 'oai' } })
  assert.is(r.choices[0].message.content, 'echo: ahoy')
  assert.is(r.choices[0].finish_reason, 'stop')
  assert.ok(r.usage!.prompt_tokens > 0)
  const req = b.up.requests.at(-1)!
  assert.is(req.model, 'claude-haiku-4-5', 'the alias maps to the configured gateway model')
  assert.ok(JSON.stringify(req.system).includes('You are PIRATE-BOT.'), 'the system message is the system prompt')

  const chunks: string[] = []
  let finish: string | null = null
  const stream = await ai.chat.completions.create({ model: 'sonnet', stream: true, messages: [{ role: 'user', content: 'stream me' }] }, { headers: { 'X-Claude-Workspace': 'oai', 'X-Claude-Append-System-Prompt': 'APPENDED-RULE' } })
  for await (const c of stream) {
    if (c.choices[0]?.delta?.content) chunks.push(c.choices[0].delta.content)
    if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason
  }
  assert.is(chunks.join(''), 'echo: stream me')
  assert.is(finish, 'stop')
  assert.ok(JSON.stringify(b.up.requests.at(-1)!.system).includes('APPENDED-RULE'))
  assert.not.ok(allUserText(b.up.requests.at(-1)!).includes('ahoy'), 'each call is a fresh session')

  // X-Claude-Continue carries the workspace's session; a multi-turn conversation goes through a file
  await ai.chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'and again' }] }, { headers: { 'X-Claude-Workspace': 'oai', 'X-Claude-Continue': 'true' } })
  assert.ok(allUserText(b.up.requests.at(-1)!).includes('stream me'))
  await ai.chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'first q' }, { role: 'assistant', content: 'first a' }, { role: 'user', content: 'second q' }] }, { headers: { 'X-Claude-Workspace': 'oai' } })
  assert.match(lastUser(b.up.requests.at(-1)!), /conversation so far is in \.claudebox\/conversation-[0-9a-f]+\.md/)
  // an image travels as a file beside the conversation
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex')
  await ai.chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: [{ type: 'text', text: 'what is in this picture?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } }] }] }, { headers: { 'X-Claude-Workspace': 'oai' } })
  const conv = /(\.claudebox\/conversation-[0-9a-f]+)\.md/.exec(lastUser(b.up.requests.at(-1)!))![1]
  assert.equal(Buffer.from(await (await cbx(b, `/files/oai/${conv}-img-1.png`)).arrayBuffer()), png)
  assert.match(await (await cbx(b, `/files/oai/${conv}.md`)).text(), new RegExp(`what is in this picture\\?\\n\\[image: ${conv.replace('.', '\\.')}-img-1\\.png\\]`))
  const bad = await fetch(`${b.nb.url}/claudebox/openai/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${b.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sonnet', messages: [] }) })
  assert.is(bad.status, 400)
  assert.ok((await bad.json()).error.message)
  const denied = await new OpenAI({ apiKey: 'wrong', baseURL: `${b.nb.url}/claudebox/openai/v1`, maxRetries: 0 }).models.list().then(() => null, (e: { status?: number }) => e.status)
  assert.is(denied, 401)
})

test('MCP at /claudebox/mcp/ through the SDK client: the five tools', async () => {
  const client = new Client({ name: 'test', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${b.nb.url}/claudebox/mcp/`), { requestInit: { headers: { authorization: `Bearer ${b.token}` } } }))
  const names = (await client.listTools()).tools.map((t) => t.name).sort()
  assert.equal(names, ['claude_run', 'delete_file', 'list_files', 'read_file', 'write_file'])
  const text = (r: unknown) => ((r as { content: Array<{ text: string }> }).content[0].text)
  await client.callTool({ name: 'write_file', arguments: { path: 'mcpws/in.txt', content: 'from mcp' } })
  assert.is(text(await client.callTool({ name: 'read_file', arguments: { path: 'mcpws/in.txt' } })), 'from mcp')
  assert.ok(text(await client.callTool({ name: 'list_files', arguments: { path: 'mcpws' } })).includes('in.txt'))
  const run = await client.callTool({ name: 'claude_run', arguments: { prompt: 'please WRITE /workspace/out.txt made by claude', workspace: 'mcpws' } })
  assert.match(text(run), /^done: /)
  assert.is(text(await client.callTool({ name: 'read_file', arguments: { path: 'mcpws/out.txt' } })), 'made by claude')
  await client.callTool({ name: 'delete_file', arguments: { path: 'mcpws/out.txt' } })
  const gone = await client.callTool({ name: 'read_file', arguments: { path: 'mcpws/out.txt' } })
  assert.is(gone.isError, true)
  const outside = await client.callTool({ name: 'read_file', arguments: { path: 'mcpws/../../etc/passwd' } })
  assert.is(outside.isError, true)
  await client.close()
  // the same tools at the /mcp/ hub, as claudebox-* (a nestbox API key acts for its team)
  const hub = new Client({ name: 'hub', version: '1' })
  await hub.connect(new StreamableHTTPClientTransport(new URL(`${b.nb.url}/mcp/`), { requestInit: { headers: { authorization: `Bearer ${b.nb.apiKey}` } } }))
  const hubNames = (await hub.listTools()).tools.map((t) => t.name)
  for (const n of ['claudebox-claude_run', 'claudebox-read_file', 'claudebox-zai-claude_run']) assert.ok(hubNames.includes(n), n)
  assert.is(text(await hub.callTool({ name: 'claudebox-read_file', arguments: { path: 'mcpws/in.txt' } })), 'from mcp')
  await hub.close()
  const anon = await fetch(`${b.nb.url}/claudebox/mcp/`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) })
  assert.is(anon.status, 401)
})

test('POST /run with stream: true answers SSE turns as they happen, then the result', async () => {
  const r = await cbx(b, '/run', { method: 'POST', json: { prompt: 'please WRITE /workspace/s.txt streamed', workspace: 'sse', stream: true } })
  assert.match(r.headers.get('content-type') ?? '', /text\/event-stream/)
  const events = (await r.text()).split('\n\n').filter(Boolean).map((e) => ({ event: /event: (.*)/.exec(e)?.[1], data: JSON.parse(/data: (.*)/.exec(e)![1]) }))
  const kinds = events.map((e) => e.event)
  assert.ok(kinds.filter((k) => k === 'turn').length >= 3, kinds.join(','))
  assert.is(kinds.at(-1), 'result')
  assert.ok(events.some((e) => e.event === 'turn' && e.data.content.some((c: { type: string; name?: string }) => c.type === 'tool_use' && c.name === 'Write')))
  assert.match(events.at(-1)!.data.result, /^done: /)
})

test('/claudebox-zai/ is a second surface with its own token and GLM aliases', async () => {
  const zai = b.nb.bootstrap.claudebox_zai_api_token
  assert.ok(zai && zai !== b.token)
  const ai = new OpenAI({ apiKey: zai, baseURL: `${b.nb.url}/claudebox-zai/openai/v1`, maxRetries: 0 })
  assert.equal((await ai.models.list()).data.map((m) => m.id).sort(), ['haiku', 'opus', 'opusplan', 'sonnet'])
  assert.is((await fetch(`${b.nb.url}/claudebox-zai/status`, { headers: { authorization: `Bearer ${b.token}` } })).status, 401)
  assert.is((await fetch(`${b.nb.url}/claudebox-zai/status`, { headers: { authorization: `Bearer ${zai}` } })).status, 200)
})

test("the gateway's claudebox-* models: /v1/chat/completions with extra_headers, streaming, the zai surface's GLM models, key model limits", async () => {
  const ai = new OpenAI({ apiKey: MASTER, baseURL: `${b.nb.url}/v1`, maxRetries: 0 })
  const ids = (await ai.models.list()).data.map((m) => m.id)
  for (const m of ['claudebox-haiku', 'claudebox-sonnet', 'claudebox-opus', 'claudebox-glm-4.5-air', 'claudebox-glm-4.7', 'claudebox-glm-5.1']) assert.ok(ids.includes(m), m)
  const r = await ai.chat.completions.create({ model: 'claudebox-sonnet', messages: [{ role: 'user', content: 'via the gateway' }], extra_headers: { 'X-Claude-Workspace': 'gw' } } as never)
  assert.is((r as OpenAI.ChatCompletion).choices[0].message.content, 'echo: via the gateway')
  assert.is(b.up.requests.at(-1)!.model, 'claude-sonnet-4-5')
  assert.ok((await (await cbx(b, '/files')).json()).entries.some((e: { name: string }) => e.name === 'gw'), 'ran in workspace gw of the token team')
  const chunks: string[] = []
  for await (const c of await ai.chat.completions.create({ model: 'claudebox-glm-4.7', stream: true, messages: [{ role: 'user', content: 'glm please' }] })) chunks.push(c.choices[0]?.delta?.content ?? '')
  assert.is(chunks.join(''), 'echo: glm please')
  assert.is(b.up.requests.at(-1)!.model, 'glm-4.7', 'the zai surface runs GLM models')
  // a virtual key limited to other models may not use claudebox
  const key = await (await fetch(`${b.nb.url}/key/generate`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify({ models: ['claude-haiku-4-5'] }) })).json()
  const denied = await fetch(`${b.nb.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claudebox-sonnet', messages: [{ role: 'user', content: 'x' }] }) })
  assert.is(denied.status, 401)
  assert.ok((await denied.json()).error.message)
})

test.run()
