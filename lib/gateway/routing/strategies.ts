/** router_settings.routing_strategy: how one deployment is chosen among the healthy ones of a group. */
import type { Deployment } from './deployments.ts'

export const STRATEGIES = ['simple-shuffle', 'least-busy', 'latency-based-routing', 'usage-based-routing', 'usage-based-routing-v2', 'cost-based-routing'] as const
export type Strategy = (typeof STRATEGIES)[number]

export type DeploymentStats = {
  inflight: number
  /** Moving average of successful call durations (0 = never measured). */
  latencyMs: number
  /** Requests and tokens served in the current minute. */
  minute: number
  requests: number
  tokens: number
  fails: number
  failMinute: number
  cooledUntil: number
}

/** compat(litellm): simple-shuffle draws by `weight`, else by rpm, else by tpm, else uniformly. */
function shuffle(list: Deployment[]): Deployment {
  const key: 'weight' | 'rpm' | 'tpm' | null = list.some((x) => x.weight) ? 'weight' : list.some((x) => x.rpm) ? 'rpm' : list.some((x) => x.tpm) ? 'tpm' : null
  if (!key) return list[Math.floor(Math.random() * list.length)]
  const total = list.reduce((a, x) => a + (x[key] ?? 0), 0)
  let r = Math.random() * total
  for (const x of list) if ((r -= x[key] ?? 0) < 0) return x
  return list[list.length - 1]
}

const by = (list: Deployment[], score: (x: Deployment) => number) => list.reduce((best, x) => (score(x) < score(best) ? x : best))

/** The deployment to try first. `list` is never empty. */
export function chooseDeployment(strategy: Strategy, list: Deployment[], stats: (d: Deployment) => DeploymentStats, now: number, price: (d: Deployment) => number = () => 0): Deployment[] {
  if (list.length === 1) return list
  const minute = Math.floor(now / 60_000)
  const fresh = (x: Deployment) => (stats(x).minute === minute ? stats(x) : { requests: 0, tokens: 0 })
  let first: Deployment
  switch (strategy) {
    case 'least-busy':
      first = by(list, (x) => stats(x).inflight)
      break
    case 'latency-based-routing':
      first = by(list, (x) => stats(x).latencyMs)
      break
    case 'usage-based-routing':
    case 'usage-based-routing-v2':
      // Lowest share of its tpm (or rpm) used this minute; unlimited deployments by raw tokens.
      first = by(list, (x) => (x.tpm ? fresh(x).tokens / x.tpm : x.rpm ? fresh(x).requests / x.rpm : fresh(x).tokens))
      break
    case 'cost-based-routing':
      // Cheapest per token (input + output price); unpriced deployments last.
      first = by(list, price)
      break
    default:
      first = shuffle(list)
  }
  return [first, ...list.filter((x) => x !== first)]
}
