/** A nestbox whose gateway routes Claude Code's models to the test's scripted upstream, and claudebox calls against it. */
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { startFakeClaudeUpstream, type FakeClaudeUpstream } from './fake-upstream.ts'

export const MASTER = 'sk-claudebox-test-master'
export const UPSTREAM_SECRET = 'sk-ant-real-upstream-secret'

export type Box = { nb: TestNestbox; up: FakeClaudeUpstream; token: string; close: () => Promise<void> }

export async function startBox(set: Record<string, string | number | boolean> = {}, o: { dataDir?: string; up?: FakeClaudeUpstream } = {}): Promise<Box> {
  const up = o.up ?? (await startFakeClaudeUpstream())
  const models = ['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-1', 'glm-4.5-air', 'glm-4.7']
  const modelList = models.map((m) => ({ model_name: m, litellm_params: { model: `anthropic/${m}`, api_base: up.url, api_key: UPSTREAM_SECRET }, model_info: { input_cost_per_token: 0.000003, output_cost_per_token: 0.000015 } }))
  const nb = await startTestNestbox({ dataDir: o.dataDir, set: { 'gateway.masterKey': MASTER, 'gateway.modelList': JSON.stringify(modelList), ...set } })
  return {
    nb,
    up,
    token: nb.bootstrap.claudebox_api_token,
    close: async () => {
      await nb.close()
      if (!o.up) await up.close()
    },
  }
}

/** fetch under /claudebox with a Bearer (the surface token unless given), JSON bodies serialised. */
export function cbx(b: Box, path: string, init: RequestInit & { json?: unknown; bearer?: string | null } = {}) {
  const headers = new Headers(init.headers)
  const bearer = init.bearer === undefined ? b.token : init.bearer
  if (bearer) headers.set('authorization', `Bearer ${bearer}`)
  let body = init.body
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json')
    body = JSON.stringify(init.json)
  }
  return fetch(`${b.nb.url}/claudebox${path}`, { ...init, headers, body })
}

/** Waits until `check` holds (polling every 20 ms, at most `ms`). */
export async function until(check: () => boolean | Promise<boolean>, ms = 30_000, what = 'condition') {
  const t0 = Date.now()
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
