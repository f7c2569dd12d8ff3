/**
 * Built-in list prices in USD per million tokens for common models (input,
 * output, cache read, cache write), from the providers' public price pages, in
 * the units of LiteLLM's model_prices_and_context_window.json once divided by
 * 1e6. Deployments override any of them with model_info / litellm_params
 * *_cost_per_token. Keys are upstream model names; a dated snapshot
 * ("gpt-4o-2024-08-06") falls back to its family ("gpt-4o") in cost.ts.
 */
export type PricePerM = [input: number, output: number, cacheRead?: number, cacheWrite?: number]

export const PRICES: Record<string, PricePerM> = {
  // OpenAI (cached input billed at the cache-read price; no cache-write charge)
  'gpt-5': [1.25, 10, 0.125],
  'gpt-5-mini': [0.25, 2, 0.025],
  'gpt-5-nano': [0.05, 0.4, 0.005],
  'gpt-4.1': [2, 8, 0.5],
  'gpt-4.1-mini': [0.4, 1.6, 0.1],
  'gpt-4.1-nano': [0.1, 0.4, 0.025],
  'gpt-4o': [2.5, 10, 1.25],
  'gpt-4o-mini': [0.15, 0.6, 0.075],
  'gpt-4-turbo': [10, 30],
  'gpt-4': [30, 60],
  'gpt-3.5-turbo': [0.5, 1.5],
  o1: [15, 60, 7.5],
  'o1-mini': [1.1, 4.4, 0.55],
  o3: [2, 8, 0.5],
  'o3-mini': [1.1, 4.4, 0.55],
  'o4-mini': [1.1, 4.4, 0.275],
  'text-embedding-3-small': [0.02, 0],
  'text-embedding-3-large': [0.13, 0],
  'text-embedding-ada-002': [0.1, 0],
  // Anthropic (cache reads 0.1x input, 5-minute cache writes 1.25x input)
  'claude-opus-4-1': [15, 75, 1.5, 18.75],
  'claude-opus-4': [15, 75, 1.5, 18.75],
  'claude-sonnet-4-5': [3, 15, 0.3, 3.75],
  'claude-sonnet-4': [3, 15, 0.3, 3.75],
  'claude-3-7-sonnet': [3, 15, 0.3, 3.75],
  'claude-3-5-sonnet': [3, 15, 0.3, 3.75],
  'claude-haiku-4-5': [1, 5, 0.1, 1.25],
  'claude-3-5-haiku': [0.8, 4, 0.08, 1],
  'claude-3-haiku': [0.25, 1.25, 0.03, 0.3],
  'claude-3-opus': [15, 75, 1.5, 18.75],
  // Others commonly reached through their OpenAI-compatible endpoints
  'deepseek-chat': [0.27, 1.1, 0.07],
  'deepseek-reasoner': [0.55, 2.19, 0.14],
  'gemini-2.5-pro': [1.25, 10, 0.31],
  'gemini-2.5-flash': [0.3, 2.5, 0.075],
  'gemini-2.0-flash': [0.1, 0.4, 0.025],
  'glm-4.5': [0.6, 2.2, 0.11],
  'glm-4.5-air': [0.2, 1.1, 0.03],
}
