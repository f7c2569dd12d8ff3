/** The provider registry: LiteLLM's model prefix → adapter. */
import { anthropicProvider } from './anthropic.ts'
import { azureProvider, openaiProvider } from './openai.ts'
import type { Provider } from './types.ts'

const ALL: Provider[] = [openaiProvider, azureProvider, anthropicProvider]

const BY_NAME = new Map(ALL.flatMap((p) => p.names.map((n) => [n, p] as const)))

export const providerNamed = (name: string): Provider | undefined => BY_NAME.get(name)
export const providerNames = () => [...BY_NAME.keys()].sort()

/**
 * Splits "openai/gpt-4o" into provider and upstream model. compat(litellm): a
 * name without a known prefix is an OpenAI model, except claude-* (Anthropic).
 */
export function splitModel(model: string): { provider: string; model: string } {
  const slash = model.indexOf('/')
  if (slash > 0) {
    const prefix = model.slice(0, slash)
    if (BY_NAME.has(prefix) || /^[a-z_]+$/.test(prefix)) return { provider: prefix, model: model.slice(slash + 1) }
  }
  return { provider: /^claude/.test(model) ? 'anthropic' : 'openai', model }
}
