/**
 * /health: one real, minimal call per deployment the caller may use (a
 * one-token chat or message, or a one-word embedding), with LiteLLM's answer
 * fields. Wildcard entries have no concrete model to call and are skipped.
 */
import type { Deployment } from '../routing/deployments.ts'
import type { Op } from '../providers/types.ts'
import { callUpstream, readAnswer } from './upstream.ts'

const PROBE_TIMEOUT_MS = 30_000

function probeRequest(dep: Deployment): { op: Op; body: Record<string, unknown> } {
  const mode = dep.info.mode
  if (mode === 'embedding') return { op: 'embeddings', body: { model: dep.model, input: 'ping' } }
  if (dep.provider.chatFormat === 'anthropic') return { op: 'messages', body: { model: dep.model, max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] } }
  return { op: 'chat', body: { model: dep.model, max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] } }
}

/** Calls `dep` once; null when healthy, else the error text. */
export async function probe(dep: Deployment): Promise<string | null> {
  const { op, body } = probeRequest(dep)
  try {
    const call = await callUpstream(dep.provider.request(dep, op, body, 'application/json'), { timeoutMs: Math.min(dep.timeoutMs, PROBE_TIMEOUT_MS) })
    const bytes = await readAnswer(call)
    const status = call.status
    return status < 400 ? null : `${status}: ${bytes.toString('utf8', 0, Math.min(bytes.length, 500))}`
  } catch (e) {
    return (e as Error).message
  }
}

/** compat(litellm): healthy_endpoints / unhealthy_endpoints entries are the deployment's params without secrets. */
export async function healthReport(deps: Deployment[]) {
  const concrete = deps.filter((d) => !d.group.includes('*'))
  const results = await Promise.all(concrete.map(async (d) => ({ d, error: await probe(d) })))
  const entry = (d: Deployment) => {
    const { api_key: _k, extra_headers: _h, ...params } = d.params
    return { ...params, model: d.params.model, api_base: d.apiBase, model_name: d.group, model_id: d.id }
  }
  const healthy = results.filter((r) => r.error === null).map((r) => entry(r.d))
  const unhealthy = results.filter((r) => r.error !== null).map((r) => ({ ...entry(r.d), error: r.error }))
  return { healthy_endpoints: healthy, unhealthy_endpoints: unhealthy, healthy_count: healthy.length, unhealthy_count: unhealthy.length }
}
