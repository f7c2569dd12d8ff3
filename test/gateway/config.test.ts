/** The gateway's configuration: LiteLLM config.yaml read as-is, env refs, unknown and invalid keys, the master key. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig, redactConfig } from '../../lib/core/config/index.ts'
import { scratchDir, startTestNestbox } from '../harness.ts'

const dir = scratchDir('gwcfg')
const file = (name: string, text: string) => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}
const load = (yaml: string, env: Record<string, string> = {}) => loadConfig({ argv: ['--set', `gateway.litellmConfig=${file(`c${Math.random()}.yaml`, yaml)}`], env })

// From LiteLLM's proxy docs ("Quick Start" / config.yaml), unchanged.
const DOCS_EXAMPLE = `model_list:
  - model_name: gpt-3.5-turbo
    litellm_params:
      model: azure/my_azure_deployment
      api_base: os.environ/AZURE_API_BASE
      api_key: "os.environ/AZURE_API_KEY"
      api_version: "2024-07-01-preview"
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
      rpm: 1000
  - model_name: claude-3-5-sonnet
    litellm_params:
      model: anthropic/claude-3-5-sonnet-20240620
      api_key: os.environ/ANTHROPIC_API_KEY
  - model_name: "*"
    litellm_params:
      model: "openai/*"
      api_key: os.environ/OPENAI_API_KEY

litellm_settings:
  drop_params: True
  success_callback: ["langfuse"]

router_settings:
  routing_strategy: usage-based-routing-v2
  num_retries: 2
  timeout: 30
  fallbacks: [{"gpt-3.5-turbo": ["gpt-4o"]}]

general_settings:
  master_key: sk-1234
  database_url: "postgresql://user:pass@host:5432/db"
`
const DOCS_ENV = { AZURE_API_BASE: 'https://example-resource.openai.azure.com', AZURE_API_KEY: 'az', OPENAI_API_KEY: 'sk-o', ANTHROPIC_API_KEY: 'sk-ant' }

test('a LiteLLM docs config loads as-is: env refs resolved, unimplemented keys reported, not dropped silently', () => {
  const c = load(DOCS_EXAMPLE, DOCS_ENV)
  assert.is(c.litellm.modelList.length, 4)
  assert.is(c.litellm.modelList[0].litellm_params.api_base, 'https://example-resource.openai.azure.com')
  assert.is(c.litellm.modelList[1].litellm_params.rpm, 1000)
  assert.is(c.litellm.masterKey, 'sk-1234')
  assert.equal(c.litellm.routerSettings.fallbacks, [{ 'gpt-3.5-turbo': ['gpt-4o'] }])
  assert.equal(c.litellm.unsupported.sort(), ['general_settings.database_url', 'litellm_settings.success_callback'])
})

test('nestbox config prints the LiteLLM part with keys and extra header values hidden', () => {
  const c = load(DOCS_EXAMPLE.replace('      rpm: 1000\n', '      rpm: 1000\n      extra_headers: {"X-Org-Token": "tok-secret"}\n'), DOCS_ENV)
  const shown = JSON.stringify(redactConfig(c))
  for (const secret of ['sk-1234', 'sk-o', 'sk-ant', 'tok-secret', '"az"']) assert.not.ok(shown.includes(secret), secret)
  assert.ok(shown.includes('X-Org-Token'))
})

test('a missing environment variable stops start, naming the key', () => {
  const env: Record<string, string> = { ...DOCS_ENV }
  delete env.OPENAI_API_KEY
  assert.throws(() => load(DOCS_EXAMPLE, env), /model_list\[1\]\.litellm_params\.api_key refers to os\.environ\/OPENAI_API_KEY, which is not set/)
})

test('invalid values stop start with the key named', () => {
  assert.throws(() => load('model_list:\n  - model_name: x\n    litellm_params:\n      api_base: http://a\n'), /model_list\[0\]\.litellm_params\.model must name the upstream model/)
  assert.throws(() => load('model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/x\n      rpm: lots\n'), /model_list\[0\]\.litellm_params\.rpm must be a number/)
  assert.throws(() => load('router_settings:\n  num_retries: [1]\n'), /router_settings\.num_retries must be a number/)
  assert.throws(() => load('general_settings:\n  master_key: 1234\n'), /general_settings\.master_key must be a string/)
  assert.throws(() => load('model_list: {}\n'), /model_list must be a list/)
})

test('a provider nestbox does not serve, or a bad routing strategy, stops start', async () => {
  for (const [yaml, re] of [
    ['model_list:\n  - model_name: x\n    litellm_params:\n      model: bedrock/anthropic.claude-v2\n', /model_list\[0\]\.litellm_params\.model: provider "bedrock" is not supported/],
    ['model_list:\n  - model_name: x\n    litellm_params:\n      model: hosted_vllm/llama\n', /api_base is required/],
    ['router_settings:\n  routing_strategy: random-ish\n', /routing_strategy must be one of/],
  ] as const) {
    const p = file(`bad${Math.random()}.yaml`, yaml)
    try {
      const nb = await startTestNestbox({ set: { 'gateway.litellmConfig': p } })
      await nb.close()
      assert.unreachable(yaml)
    } catch (e) {
      assert.match(String((e as Error).message), re)
    }
  }
})

test('without a configured master key one is generated into bootstrap.txt and survives a restart', async () => {
  const data = scratchDir('gwkey')
  let nb = await startTestNestbox({ dataDir: data })
  const key = nb.bootstrap.gateway_master_key
  assert.match(key, /^sk-[A-Za-z0-9_-]{20,}$/)
  assert.is((await fetch(`${nb.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status, 200)
  await nb.close()
  nb = await startTestNestbox({ dataDir: data })
  assert.is((await fetch(`${nb.url}/models`, { headers: { authorization: `Bearer ${key}` } })).status, 200)
  assert.is(readFileSync(join(data, 'bootstrap.txt'), 'utf8').split('gateway_master_key=').length, 2, 'written once')
  assert.not.ok(JSON.stringify(await (await fetch(`${nb.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).json()).includes(key))
  await nb.close()
})

test.run()
