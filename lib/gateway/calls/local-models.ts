/**
 * Models that another nestbox service answers itself instead of an upstream
 * (claudebox-sonnet, claudebox-glm-4.7 ...): the gateway authenticates the key,
 * checks it may use the model and its request limits, then hands the OpenAI
 * chat request over. The service registers its names at setup.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../../http/types.ts'
import type { Caller } from '../keys/callers.ts'

export type LocalModelHandler = (c: Context<AppEnv>, caller: Caller, body: Record<string, unknown>) => Promise<Response>

export function createLocalModels() {
  const handlers = new Map<string, LocalModelHandler>()
  return {
    /** Serves `names` on /chat/completions with `handler`; a name already taken is an error at start. */
    register(names: string[], handler: LocalModelHandler) {
      for (const n of names) {
        if (handlers.has(n)) throw new Error(`gateway: model ${n} is already served by another service`)
        handlers.set(n, handler)
      }
    },
    find: (model: string) => handlers.get(model) ?? null,
    names: () => [...handlers.keys()],
  }
}
export type LocalModels = ReturnType<typeof createLocalModels>
