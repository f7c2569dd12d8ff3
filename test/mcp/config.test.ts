/** MCP server configuration: LiteLLM's mcp_servers in a config.yaml, gateway.mcpServers, and entries that stop start. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, redactConfig } from '../../lib/core/config/index.ts'
import { parseUpstreams } from '../../lib/mcp/upstream-config.ts'

const dir = mkdtempSync(join(tmpdir(), 'nestbox-mcp-config-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

test("a LiteLLM config.yaml's mcp_servers (os.environ refs) and gateway.mcpServers are read together", () => {
  const file = join(dir, 'config.yaml')
  writeFileSync(
    file,
    [
      'mcp_servers:',
      '  github:',
      '    url: https://mcp.example.test/mcp',
      '    transport: http',
      '    auth_type: bearer_token',
      '    auth_value: os.environ/GH_TOKEN',
      '    allowed_tools: [search, read]',
      '  files:',
      '    command: npx',
      '    args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]',
      '    env: { DEBUG: "1" }',
    ].join('\n'),
  )
  const cfg = loadConfig({ argv: ['--set', `gateway.litellmConfig=${file}`, '--set', 'gateway.mcpServers={"old":{"url":"http://127.0.0.1:9/sse","transport":"sse","auth_type":"basic","auth_value":"u:p"}}'], env: { GH_TOKEN: 'ghp_x' } })
  const { specs, unsupported } = parseUpstreams(cfg.litellm.mcpServers, ['storage', 'capsules'], 'config.yaml')
  assert.equal(unsupported, [])
  const by = Object.fromEntries(specs.map((s) => [s.name, s]))
  assert.equal([by.github.transport, by.github.headers, by.github.allowedTools], ['http', { authorization: 'Bearer ghp_x' }, ['search', 'read']])
  assert.equal([by.files.transport, by.files.command, by.files.args, by.files.env], ['stdio', 'npx', ['-y', '@modelcontextprotocol/server-filesystem', '/tmp'], { DEBUG: '1' }])
  assert.equal([by.old.transport, by.old.headers.authorization], ['sse', `Basic ${Buffer.from('u:p').toString('base64')}`])
  // Printed configuration hides credentials.
  const shown = JSON.stringify(redactConfig(cfg))
  assert.not.ok(shown.includes('ghp_x') || shown.includes('u:p'))
  assert.is((redactConfig(cfg).litellm as { mcpServers: Record<string, { auth_value: string }> }).mcpServers.github.auth_value, '***')
})

test('bad entries are refused, naming the entry', () => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ x: { transport: 'http' } }, /mcp_servers\.x\.url is required/],
    [{ x: { url: 'ftp://h/x' } }, /mcp_servers\.x\.url must be an http\(s\) URL/],
    [{ x: { url: 'http://h/x', transport: 'websocket' } }, /transport must be http, sse or stdio/],
    [{ x: { command: 'a', args: 'b' } }, /args must be a list of strings/],
    [{ x: { url: 'http://h/x', auth_type: 'bearer_token' } }, /auth_value is required/],
    [{ x: { url: 'http://h/x', auth_type: 'oauth9', auth_value: 'v' } }, /auth_type must be one of/],
    [{ x: { url: 'http://h/x', allowed_tools: 'a' } }, /allowed_tools must be a list/],
    [{ storage: { url: 'http://h/x' } }, /is a name nestbox uses itself/],
    [{ v1: { url: 'http://h/x' } }, /is a name nestbox uses itself/],
    [{ 'a b': { url: 'http://h/x' } }, /is not a valid server name/],
  ]
  for (const [raw, re] of bad) assert.throws(() => parseUpstreams(raw, ['storage', 'capsules'], 'test'), re)
  assert.equal(parseUpstreams({ x: { url: 'http://h/x', spec_version: 'x' } }, [], 'test').unsupported, ['mcp_servers.x.spec_version'])
})

test.run()
