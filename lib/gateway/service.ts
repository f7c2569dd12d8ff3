/**
 * The gateway: a call goes through admission (key, budgets, limits), the
 * proxy (routing, upstream, answer) and accounting (cost, spend, counters,
 * a spend log row written later in a batch). Models, keys, spend and team
 * budgets are read and managed here for every surface.
 */
import { sql } from 'kysely'
import type { Db } from '../core/db.ts'
import type { Clock } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import { assertKeyUsable, createAdmission, modelAllowed, type TeamState } from './keys/admission.ts'
import type { Caller, Callers } from './keys/callers.ts'
import { costOf, pricesFor, type Prices } from './spend/cost.ts'
import type { Deployment, ModelRegistry } from './routing/deployments.ts'
import { healthReport } from './calls/health.ts'
import { forwardToAnthropic, type ProxiedRequest } from './calls/anthropic-proxy.ts'
import { createLocalModels } from './calls/local-models.ts'
import { GatewayError, asGatewayError } from './errors.ts'
import type { KeyState, VirtualKeys } from './keys/keys.ts'
import type { Limits } from './keys/limits.ts'
import type { Op } from './providers/types.ts'
import type { GatewayRequest, Outcome, Proxy } from './calls/proxy.ts'
import type { Sink } from './calls/sink.ts'
import type { SpendWriter } from './spend/writer.ts'
import { findTeamBudget, updateKey, upsertTeamBudget } from './store.ts'
import { createProxyTokens } from './keys/proxy-tokens.ts'
import { mcpServersOf } from './keys/object-permission.ts'
import type { GatewayTeamBudgetRow } from './tables.ts'

const CALL_TYPES: Record<Op, string> = {
  chat: 'acompletion', messages: 'anthropic_messages', completions: 'atext_completion', embeddings: 'aembedding', images: 'aimage_generation',
  speech: 'aspeech', transcriptions: 'atranscription', responses: 'aresponses', count_tokens: 'acount_tokens',
}

/** Request fields that only describe the call (spend log), never its routing. */
export type CallMeta = { user: string | null; tags: string[]; metadata: Record<string, unknown> }

export type GatewayDeps = {
  db: Db
  clock: Clock
  log: Logger
  registry: ModelRegistry
  proxy: Proxy
  callers: Callers
  keys: VirtualKeys
  limits: Limits
  spend: SpendWriter
  timezone: string
}

export function createGatewayService(d: GatewayDeps) {
  const prices = new WeakMap<Deployment, Prices | null>()
  const priceOf = (dep: Deployment) => {
    if (!prices.has(dep)) prices.set(dep, pricesFor(dep.model, dep.params, dep.info))
    return prices.get(dep)!
  }
  const teams = new Map<string, TeamState>()
  const teamState = async (teamId: string | null): Promise<TeamState | null> => {
    if (!teamId) return null
    let t = teams.get(teamId)
    if (!t) teams.set(teamId, (t = { row: (await findTeamBudget(d.db, teamId)) ?? null }))
    return t
  }
  const admission = createAdmission({
    clock: d.clock,
    limits: d.limits,
    timezone: d.timezone,
    matches: d.registry.matches,
    // A period ended: the stored spend restarts at 0 after the increments already queued.
    onKeyReset: (id, at) => void d.spend.sequence(() => updateKey(d.db, id, { spend: 0, budget_reset_at: at })),
    onTeamReset: (teamId, at) => void d.spend.sequence(async () => {
      const t = teams.get(teamId)?.row
      if (t) await upsertTeamBudget(d.db, { ...t, spend: 0, budget_reset_at: at })
    }),
  })

  /** Adds a finished call to spend, counters and the spend log. */
  function account(caller: Caller, req: GatewayRequest, meta: CallMeta, o: Outcome, cost: number, team: TeamState | null, started: number) {
    const dep = o.deployment
    const u = o.usage
    if (caller.key) caller.key.row.spend += cost
    if (team?.row) team.row.spend += cost
    const keyMeta = caller.key?.metadata ?? {}
    d.spend.record(
      {
        request_id: req.callId, call_type: CALL_TYPES[req.op], api_key: caller.keyHash, key_alias: caller.keyAlias, spend: cost,
        prompt_tokens: u.prompt, completion_tokens: u.completion, total_tokens: u.prompt + u.completion,
        cache_read_tokens: u.cacheRead, cache_write_tokens: u.cacheWrite, reasoning_tokens: u.reasoning,
        start_time: started, end_time: d.clock.now(), completion_start_time: o.firstByteAt,
        model: dep?.model ?? req.model, model_id: dep?.id ?? null, model_group: dep?.group ?? req.model, custom_llm_provider: dep?.providerName ?? null, api_base: dep?.apiBase ?? null,
        end_user: meta.user, team_id: caller.teamId, capsule_id: caller.key?.row.capsule_id ?? caller.capsuleId ?? null,
        metadata: JSON.stringify({ ...meta.metadata, user_api_key_metadata: keyMeta, ...(caller.sandboxId ? { sandbox_id: caller.sandboxId } : {}), ...(o.error ? { error: { status: o.error.status, type: o.error.type, message: o.error.message } } : {}), attempted_retries: o.attempted.retries, attempted_fallbacks: o.attempted.fallbacks }),
        cache_hit: 0, request_tags: JSON.stringify(meta.tags), status: o.status,
      },
      caller.key?.row.id ?? null,
      team?.row ? caller.teamId : null,
    )
  }

  return {
    authenticate: (token: string | undefined) => d.callers.resolve(token),
    /** Tokens other services issue for /proxy/anthropic (sandboxes register theirs). */
    proxyTokens: createProxyTokens(),

    /**
     * Makes one call for `caller`, answering on `sink`. Errors before the
     * answer started are thrown for the surface to render in its envelope.
     */
    async call(caller: Caller, req: GatewayRequest, meta: CallMeta, sink: Sink): Promise<void> {
      const started = d.clock.now()
      const team = await teamState(caller.teamId)
      const taken = admission.admit(caller, req.model, team)
      const deps: Deployment[] = []
      let cost = 0
      const hook = (o: Outcome, final: boolean) => {
        const dep = o.deployment!
        const ms = performance.now() - req.t0
        if (final) cost = costOf(o.usage, priceOf(dep))
        const h: Record<string, string> = {
          'x-litellm-call-id': req.callId,
          'x-litellm-model-id': dep.id,
          'x-litellm-model-group': dep.group,
          'x-litellm-model-api-base': dep.apiBase,
          'x-litellm-attempted-retries': String(o.attempted.retries),
          'x-litellm-attempted-fallbacks': String(o.attempted.fallbacks),
          'x-litellm-response-duration-ms': ms.toFixed(3),
          'x-litellm-overhead-duration-ms': Math.max(0, ms - o.upstreamMs).toFixed(3),
          'x-litellm-key-spend': String(Number(((caller.key?.row.spend ?? 0) + cost).toFixed(10))),
        }
        if (final) h['x-litellm-response-cost'] = String(cost)
        for (const [id, l] of taken) Object.assign(h, d.limits.headers(id, l))
        return h
      }
      let outcome: Outcome | null = null
      try {
        outcome = await d.proxy.run(req, sink, hook, {
          admit: (dep) => d.limits.fits(`dep:${dep.id}`, { rpm: dep.rpm, tpm: dep.tpm, parallel: dep.maxParallel }),
          onAttempt: (dep) => {
            deps.push(dep)
            d.limits.take(`dep:${dep.id}`)
          },
        })
        if (!cost && outcome.deployment) cost = costOf(outcome.usage, priceOf(outcome.deployment))
      } catch (e) {
        const err = asGatewayError(e)
        outcome = { deployment: deps.at(-1) ?? null, attempted: { retries: Math.max(0, deps.length - 1), fallbacks: 0 }, usage: { prompt: 0, completion: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 }, upstreamMs: 0, firstByteAt: null, status: 'failure', error: err }
        throw e
      } finally {
        const tokens = outcome ? outcome.usage.prompt + outcome.usage.completion : 0
        for (const [id] of taken) d.limits.release(id, tokens)
        deps.forEach((dep, i) => d.limits.release(`dep:${dep.id}`, i === deps.length - 1 ? tokens : 0))
        if (outcome) account(caller, req, meta, outcome, cost, team, started)
      }
    },

    /**
     * /anthropic/* and /proxy/anthropic/*: forwards the request as-is to the
     * first anthropic/ deployment, under the caller's budget and limits for that
     * deployment's group; /v1/messages answers are charged at the requested model's price.
     */
    async forwardAnthropic(caller: Caller, req: ProxiedRequest, sink: Sink, callId: string): Promise<void> {
      const dep = d.registry.deployments().find((x) => x.providerName === 'anthropic' && !x.group.includes('*'))
      if (!dep) throw new GatewayError(404, 'not_found_error', 'no anthropic/ deployment is configured for the Anthropic pass-through')
      let model = dep.model
      try {
        const m = (JSON.parse(req.body.toString('utf8')) as { model?: unknown }).model
        if (typeof m === 'string') model = m
      } catch {
        // not JSON (GET, files): charged nothing
      }
      const started = d.clock.now()
      const team = await teamState(caller.teamId)
      const taken = admission.admit(caller, dep.group, team)
      let r: Awaited<ReturnType<typeof forwardToAnthropic>> | null = null
      try {
        r = await forwardToAnthropic(dep, req, sink, d.clock.now)
      } finally {
        const usage = r?.usage ?? { prompt: 0, completion: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 }
        for (const [id] of taken) d.limits.release(id, usage.prompt + usage.completion)
        const cost = costOf(usage, pricesFor(model, {}, {}) ?? priceOf(dep))
        const failed = !r || r.error !== null || r.status >= 400
        const o: Outcome = { deployment: { ...dep, model }, attempted: { retries: 0, fallbacks: 0 }, usage, upstreamMs: 0, firstByteAt: r?.firstByteAt ?? null, status: failed ? 'failure' : 'success', error: r?.error ? new GatewayError(502, 'api_error', r.error) : null }
        account(caller, { op: 'messages', format: 'anthropic', model, body: {}, contentType: '', stream: false, callId, t0: 0 }, { user: null, tags: ['anthropic-passthrough'], metadata: { path: req.path } }, o, cost, team, started)
      }
    },

    /** Models served by other nestbox services (local-models.ts). */
    localModels: createLocalModels(),
    /** Throws unless the caller's key may use a local model now (blocked, expired, or not in its models: 401/403 as for upstream models). */
    assertLocalModel(caller: Caller, model: string): void {
      if (!caller.key) return
      assertKeyUsable(caller.key.row, d.clock.now())
      if (!modelAllowed(caller.key.models, model, d.registry.matches)) throw new GatewayError(401, 'key_model_access_denied', `key not allowed to access model ${model}`)
    },

    /** Model groups the caller may use (GET /models). */
    models(caller: Caller): string[] {
      const names = [...d.registry.groupNames(), ...this.localModels.names()]
      return caller.key ? names.filter((n) => modelAllowed(caller.key!.models, n, d.registry.matches)) : names
    },

    /** Deployments the caller may use, with secrets removed (GET /model/info). */
    modelInfo(caller: Caller) {
      const allowed = new Set(this.models(caller))
      return d.registry.deployments().filter((dep) => allowed.has(dep.group)).map((dep) => {
        const { api_key: _k, extra_headers: _h, ...params } = dep.params
        const p = priceOf(dep)
        return {
          model_name: dep.group,
          litellm_params: params,
          model_info: {
            id: dep.id,
            ...dep.info,
            litellm_provider: dep.providerName,
            input_cost_per_token: p?.input ?? null,
            output_cost_per_token: p?.output ?? null,
            cache_read_input_token_cost: p?.cacheRead ?? null,
            cache_creation_input_token_cost: p?.cacheWrite ?? null,
          },
        }
      })
    },

    /** GET /health: a real call to each deployment the caller may use. */
    async health(caller: Caller) {
      const allowed = new Set(this.models(caller))
      return healthReport(d.registry.deployments().filter((dep) => allowed.has(dep.group)))
    },

    /** Whether the database answers (GET /health/readiness). */
    async ready(): Promise<boolean> {
      try {
        await sql`SELECT 1`.execute(d.db)
        return true
      } catch {
        return false
      }
    },

    keys: d.keys,
    /** A team's spend as counted in memory (including what the spend writer has not stored yet). */
    teamSpend: (teamId: string) => teams.get(teamId)?.row?.spend,
    /** A team's budget row changed (/team/update): the cached state takes it, keeping the spend counted here. */
    teamChanged(row: GatewayTeamBudgetRow) {
      const t = teams.get(row.team_id)
      if (t) t.row = { ...row, spend: t.row?.spend ?? row.spend }
    },
    /**
     * MCP servers the caller may use: its key's object_permission.mcp_servers
     * within its team's (either alone when only one is set); null = every server.
     * Throws for a blocked or expired key.
     */
    async mcpServers(caller: Caller): Promise<string[] | null> {
      if (caller.kind === 'master') return null
      if (caller.key) assertKeyUsable(caller.key.row, d.clock.now())
      const key = mcpServersOf(caller.key?.row.object_permission)
      const team = mcpServersOf((await teamState(caller.teamId))?.row?.object_permission)
      return key && team ? key.filter((s) => team.includes(s)) : (key ?? team)
    },
    /** Admits one MCP tool call (429 over the key's or team's request limits); call the returned function when it has ended. */
    async admitToolCall(caller: Caller): Promise<() => void> {
      const taken = admission.admitTool(caller, await teamState(caller.teamId))
      return () => {
        for (const [id] of taken) d.limits.release(id, 0)
      }
    },
    /** The budgets job reset a team's spend in the database: forget the cached state. */
    teamReset: (teamId: string) => teams.delete(teamId),
    /** Error → GatewayError, logging what is not one. */
    gatewayError(e: unknown, log: Logger): GatewayError {
      const g = asGatewayError(e)
      if (g) return g
      log.error('gateway: unhandled error', { err: e })
      return new GatewayError(500, 'api_error', 'internal server error')
    },
  }
}
export type GatewayService = ReturnType<typeof createGatewayService>
export type { KeyState }
