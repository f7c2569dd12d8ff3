/**
 * Picks a deployment of a model group and drives retries and fallbacks
 * (router_settings): the strategy orders the healthy deployments, a failure
 * that is worth retrying (429, 408, 5xx, connection) moves on after a short
 * backoff, a deployment failing more than `allowed_fails` times in a minute
 * cools down for `cooldown_time`, and when a group is exhausted its `fallbacks`
 * (or `context_window_fallbacks` for a context-length error) are tried in order.
 * All state is in memory, per process.
 */
import type { Clock } from '../../core/ids.ts'
import type { Deployment, ModelRegistry } from './deployments.ts'
import { GatewayError, UpstreamError, badRequest } from '../errors.ts'
import { pricesFor } from '../spend/cost.ts'
import { chooseDeployment, type Strategy, STRATEGIES, type DeploymentStats } from './strategies.ts'

export type RouterSettings = {
  strategy: Strategy
  numRetries: number
  allowedFails: number
  cooldownMs: number
  retryAfterMs: number
  fallbacks: Map<string, string[]>
  contextWindowFallbacks: Map<string, string[]>
  defaultFallbacks: string[]
  cooldowns: boolean
}

export type Attempted = { retries: number; fallbacks: number }

/** Thrown to stop retrying: the client is gone, or bytes already reached it. */
export class Final extends Error {
  readonly error: unknown
  constructor(error: unknown) {
    super('final')
    this.error = error
  }
}

type FallbackRules = Array<Record<string, unknown>>

function fallbackMap(...lists: unknown[]): Map<string, string[]> {
  const m = new Map<string, string[]>()
  for (const list of lists)
    for (const rule of (Array.isArray(list) ? list : []) as FallbackRules)
      for (const [group, to] of Object.entries(rule ?? {})) m.set(group, (Array.isArray(to) ? to : [to]).map(String))
  return m
}

const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : d)

/** router_settings + litellm_settings in the router's terms; an unknown strategy stops start. */
export function routerSettings(router: Record<string, unknown>, litellm: Record<string, unknown>): RouterSettings {
  const strategy = (router.routing_strategy ?? 'simple-shuffle') as Strategy
  if (!STRATEGIES.includes(strategy)) throw new Error(`router_settings.routing_strategy must be one of ${STRATEGIES.join(', ')} (got "${strategy}")`)
  return {
    strategy,
    numRetries: num(router.num_retries ?? litellm.num_retries, 2),
    allowedFails: num(router.allowed_fails, 3),
    cooldownMs: num(router.cooldown_time, 5) * 1000,
    retryAfterMs: num(router.retry_after, 0) * 1000,
    fallbacks: fallbackMap(litellm.fallbacks, router.fallbacks),
    contextWindowFallbacks: fallbackMap(litellm.context_window_fallbacks, router.context_window_fallbacks),
    defaultFallbacks: ((router.default_fallbacks ?? litellm.default_fallbacks ?? []) as unknown[]).map(String),
    cooldowns: router.disable_cooldowns !== true,
  }
}

const retryable = (e: unknown) => e instanceof UpstreamError && (e.status === 429 || e.status === 408 || e.status >= 500)
const CONTEXT_RE = /context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|context_length_exceeded/i
const isContextError = (e: unknown) => e instanceof UpstreamError && e.status === 400 && CONTEXT_RE.test(e.message)

export function createRouter(d: { registry: ModelRegistry; settings: RouterSettings; clock: Clock; sleep?: (ms: number) => Promise<void> }) {
  const s = d.settings
  const sleep = d.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const stats = new Map<string, DeploymentStats>()
  const statsOf = (id: string) => {
    let st = stats.get(id)
    if (!st) stats.set(id, (st = { inflight: 0, latencyMs: 0, minute: 0, requests: 0, tokens: 0, fails: 0, failMinute: 0, cooledUntil: 0 }))
    return st
  }
  const minuteOf = (ms: number) => Math.floor(ms / 60_000)
  const prices = new WeakMap<Deployment, number>()
  const priceOf = (dep: Deployment) => {
    let p = prices.get(dep)
    if (p === undefined) {
      const x = pricesFor(dep.model, dep.params, dep.info)
      prices.set(dep, (p = x ? x.input + x.output : Infinity))
    }
    return p
  }

  function fail(dep: Deployment) {
    if (!s.cooldowns) return
    const st = statsOf(dep.id)
    const now = d.clock.now()
    if (st.failMinute !== minuteOf(now)) {
      st.failMinute = minuteOf(now)
      st.fails = 0
    }
    if (++st.fails > s.allowedFails) {
      st.cooledUntil = now + s.cooldownMs
      st.fails = 0
    }
  }

  /** Deployments of `group` usable now, best first. Throws 429 when all are cooling down. */
  function candidates(group: string, list: Deployment[], tried: Set<string>, admit: (dep: Deployment) => boolean): Deployment[] {
    const now = d.clock.now()
    const healthy = list.filter((x) => !tried.has(x.id) && statsOf(x.id).cooledUntil <= now && admit(x))
    if (!healthy.length) {
      const until = Math.min(...list.map((x) => statsOf(x.id).cooledUntil))
      const wait = Math.max(0, until - now)
      throw new UpstreamError(429, 'rate_limit_error', `No deployments available for selected model=${group}. ${wait ? `Cooldown ends in ${Math.ceil(wait / 1000)} s.` : 'All deployments are at their rpm/tpm limits or failed.'}`, wait || 1000)
    }
    return chooseDeployment(s.strategy, healthy, (x) => statsOf(x.id), now, priceOf)
  }

  return {
    /**
     * Runs `attempt` on deployments of `group` until one succeeds, with retries
     * and then fallbacks. `admit` vetoes a deployment (its rpm/tpm limits).
     */
    async run<T>(group: string, attempt: (dep: Deployment, n: Attempted) => Promise<T>, admit: (dep: Deployment) => boolean = () => true): Promise<{ value: T; deployment: Deployment; attempted: Attempted }> {
      const attempted: Attempted = { retries: 0, fallbacks: 0 }
      const groups = [group]
      let lastError: unknown
      for (let gi = 0; gi < groups.length; gi++) {
        const g = groups[gi]
        const list = d.registry.resolve(g)
        if (!list) {
          if (gi === 0) throw badRequest(`Invalid model name passed in model=${g}. Call \`/v1/models\` to view available models for your key.`, 'model')
          continue
        }
        if (gi > 0) attempted.fallbacks++
        const tried = new Set<string>()
        for (let n = 0; n <= s.numRetries; n++) {
          let dep: Deployment
          try {
            const order = candidates(g, list, tried.size >= list.length ? new Set() : tried, admit)
            dep = order[0]
          } catch (e) {
            lastError = e
            break
          }
          tried.add(dep.id)
          const st = statsOf(dep.id)
          const t0 = d.clock.now()
          st.inflight++
          try {
            const value = await attempt(dep, attempted)
            st.latencyMs = st.latencyMs ? st.latencyMs * 0.8 + (d.clock.now() - t0) * 0.2 : d.clock.now() - t0
            return { value, deployment: dep, attempted }
          } catch (e) {
            if (e instanceof Final) throw e.error
            lastError = e
            if (isContextError(e)) {
              for (const f of s.contextWindowFallbacks.get(g) ?? []) if (!groups.includes(f)) groups.push(f)
              break
            }
            if (!retryable(e)) throw e
            fail(dep)
            if (n === s.numRetries || (dep.maxRetries !== null && n >= dep.maxRetries)) break
            attempted.retries++
            // Another deployment can be tried at once; the same one again only after a backoff.
            if (tried.size >= list.length) {
              const hinted = e instanceof UpstreamError && e.retryAfterMs !== null && e.retryAfterMs <= 10_000 ? e.retryAfterMs : 0
              await sleep(Math.max(s.retryAfterMs, hinted, Math.min(2000, 50 * 2 ** n)))
            }
          } finally {
            st.inflight--
          }
        }
        if (lastError instanceof GatewayError && !retryable(lastError) && !isContextError(lastError)) throw lastError
        for (const f of [...(s.fallbacks.get(g) ?? []), ...(gi === 0 ? s.defaultFallbacks : [])]) if (!groups.includes(f)) groups.push(f)
      }
      throw lastError
    },
    /** Tokens and requests a deployment served, for usage-based routing. */
    used(dep: Deployment, tokens: number) {
      const st = statsOf(dep.id)
      const m = minuteOf(d.clock.now())
      if (st.minute !== m) {
        st.minute = m
        st.requests = 0
        st.tokens = 0
      }
      st.requests++
      st.tokens += tokens
    },
    stats: (id: string) => statsOf(id),
  }
}
export type Router = ReturnType<typeof createRouter>
