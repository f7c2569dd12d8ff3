/** How an action is declared: its parameters as a zod shape (checked before it runs) and what it does. */
import { z } from 'zod'
import type { Page } from 'playwright-core'
import type { ReplicaHandle } from '../replica-handle.ts'
import { activePage, stateOf, type ReplicaState } from './state.ts'

/** An action's data; a screenshot also carries its PNG under BINARY (a symbol: JSON leaves it out of answers). */
export const BINARY = Symbol('binary')
export type ActionData = Record<string, unknown> & { [BINARY]?: Buffer }

export type ActionContext = {
  replica: ReplicaHandle
  state: ReplicaState
  page: () => Promise<Page>
}

export type ActionDef = {
  schema: z.ZodObject<z.ZodRawShape>
  run: (ctx: ActionContext, args: Record<string, unknown>) => Promise<ActionData>
}

/** An error whose message is the whole answer (bad parameters, a missing element), not a crash. */
export class ActionError extends Error {}

export function action<S extends z.ZodRawShape>(input: S, run: (ctx: ActionContext, args: z.infer<z.ZodObject<S>>) => Promise<ActionData>): ActionDef {
  return { schema: z.object(input), run: (ctx, args) => run(ctx, args as z.infer<z.ZodObject<S>>) }
}

export function contextFor(replica: ReplicaHandle): ActionContext {
  return { replica, state: stateOf(replica), page: () => activePage(replica) }
}

// Parameter types shared by the actions. Numbers may come as strings (the original took int("3")).
const num = z.union([z.number(), z.string().trim().regex(/^-?\d+(\.\d+)?$/).transform(Number)])
export const coord = num.pipe(z.number().finite())
/** Seconds, within bounds, as milliseconds. */
export const seconds = (def: number, max: number) => num.pipe(z.number().min(0).max(max)).default(def).transform((s) => Math.round(s * 1000))
export const selector = z.string().min(1, 'selector required')
