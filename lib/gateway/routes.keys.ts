/**
 * LiteLLM's management API: /key/* (virtual keys), /team/info and /team/update
 * (team budgets and limits), /spend/logs. Wire names are LiteLLM's; errors use
 * the OpenAI envelope.
 */
import { Hono, type Context } from 'hono'
import type { Logger } from '../core/logger.ts'
import type { AppEnv } from '../http/types.ts'
import type { Budgets } from './keys/budgets.ts'
import { toObjectPermission } from './keys/object-permission.ts'
import { callerOf, guarded, readJson, sendJson } from './http.ts'
import type { GatewayService } from './service.ts'
import type { GatewayKeyRow, GatewaySpendLogRow, GatewayTeamBudgetRow } from './tables.ts'

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** compat(litellm): a key's info object (LiteLLM_VerificationToken fields); `token` is the hash. */
export function toKeyInfo(r: GatewayKeyRow) {
  return {
    token: r.token_hash, key_name: r.key_name, key_alias: r.key_alias, spend: r.spend, expires: iso(r.expires_at), models: JSON.parse(r.models) as string[],
    user_id: r.user_id, team_id: r.team_id, max_parallel_requests: r.max_parallel_requests, metadata: JSON.parse(r.metadata) as unknown,
    tpm_limit: r.tpm_limit, rpm_limit: r.rpm_limit, max_budget: r.max_budget, budget_duration: r.budget_duration, budget_reset_at: iso(r.budget_reset_at),
    blocked: r.blocked === 1, capsule_id: r.capsule_id, object_permission: toObjectPermission(r.object_permission), created_at: iso(r.created_at), updated_at: iso(r.updated_at),
  }
}

const toTeamInfo = (t: GatewayTeamBudgetRow) => ({ team_id: t.team_id, max_budget: t.max_budget, spend: t.spend, budget_duration: t.budget_duration, budget_reset_at: iso(t.budget_reset_at), rpm_limit: t.rpm_limit, tpm_limit: t.tpm_limit, object_permission: toObjectPermission(t.object_permission) })

/** compat(litellm): spend log rows with LiteLLM's names (camelCase times, `user`). */
export const toSpendLog = (r: GatewaySpendLogRow) => ({
  request_id: r.request_id, call_type: r.call_type, api_key: r.api_key, key_alias: r.key_alias, spend: r.spend,
  total_tokens: r.total_tokens, prompt_tokens: r.prompt_tokens, completion_tokens: r.completion_tokens,
  cache_read_input_tokens: r.cache_read_tokens, cache_creation_input_tokens: r.cache_write_tokens, reasoning_tokens: r.reasoning_tokens,
  startTime: iso(r.start_time), endTime: iso(r.end_time), completionStartTime: iso(r.completion_start_time),
  model: r.model, model_id: r.model_id, model_group: r.model_group, custom_llm_provider: r.custom_llm_provider, api_base: r.api_base,
  user: r.end_user, team_id: r.team_id, capsule_id: r.capsule_id, metadata: JSON.parse(r.metadata) as unknown, cache_hit: String(r.cache_hit === 1),
  request_tags: JSON.parse(r.request_tags) as unknown, status: r.status,
})

const q = (c: Context<AppEnv>) => c.req.query() as Record<string, string | undefined>

export function gatewayKeyRoutes(g: GatewayService, budgets: Budgets, o: { log: Logger; maxBodyBytes: number }) {
  const r = new Hono<AppEnv>()
  const h = (fn: (c: Context<AppEnv>) => Promise<Response>) => guarded(g, o.log, 'openai', fn)
  const body = (c: Context<AppEnv>) => readJson(c, o.maxBodyBytes)
  const generated = (x: { row: GatewayKeyRow; token: string }) => ({ key: x.token, ...toKeyInfo(x.row), token_id: x.row.token_hash })

  r.post('/key/generate', h(async (c) => sendJson(c, 200, generated(await g.keys.generate(await callerOf(c, g), await body(c))))))
  r.get('/key/info', h(async (c) => {
    const caller = await callerOf(c, g)
    const key = q(c).key ?? caller.keyHash
    return sendJson(c, 200, { key, info: toKeyInfo(await g.keys.info(caller, key)) })
  }))
  r.post('/key/update', h(async (c) => sendJson(c, 200, toKeyInfo(await g.keys.update(await callerOf(c, g), await body(c))))))
  r.post('/key/delete', h(async (c) => sendJson(c, 200, { deleted_keys: await g.keys.remove(await callerOf(c, g), await body(c)) })))
  r.get('/key/list', h(async (c) => {
    const x = q(c)
    const page = await g.keys.list(await callerOf(c, g), { team_id: x.team_id, user_id: x.user_id, key_alias: x.key_alias, page: x.page ? Number(x.page) : undefined, size: x.size ? Number(x.size) : undefined })
    const full = x.return_full_object === 'true'
    return sendJson(c, 200, { keys: page.rows.map((k) => (full ? toKeyInfo(k) : k.token_hash)), total_count: page.total, current_page: page.page, total_pages: Math.ceil(page.total / page.size) })
  }))
  r.post('/key/block', h(async (c) => sendJson(c, 200, toKeyInfo(await g.keys.setBlocked(await callerOf(c, g), (await body(c)).key, true)))))
  r.post('/key/unblock', h(async (c) => sendJson(c, 200, toKeyInfo(await g.keys.setBlocked(await callerOf(c, g), (await body(c)).key, false)))))
  r.post('/key/regenerate', h(async (c) => {
    const b = await body(c)
    return sendJson(c, 200, generated(await g.keys.regenerate(await callerOf(c, g), String(b.key ?? ''), b)))
  }))
  r.post('/key/:key/regenerate', h(async (c) => sendJson(c, 200, generated(await g.keys.regenerate(await callerOf(c, g), c.req.param('key') ?? '', await body(c))))))

  r.get('/team/info', h(async (c) => {
    const t = await budgets.teamInfo(await callerOf(c, g), q(c).team_id)
    return sendJson(c, 200, { team_id: t.team_id, team_info: toTeamInfo(t) })
  }))
  r.post('/team/update', h(async (c) => {
    const caller = await callerOf(c, g)
    const t = await budgets.teamUpdate(caller, await body(c))
    return sendJson(c, 200, { team_id: t.team_id, data: toTeamInfo(t) })
  }))

  r.get('/spend/logs', h(async (c) => sendJson(c, 200, (await budgets.spendLogs(await callerOf(c, g), q(c))).map(toSpendLog))))
  return r
}
