/**
 * POST /stealthy-auto-browse/: one action on one replica, answered in the
 * original's envelope `{success, timestamp, data?, error?}`. compat
 * (stealthy-auto-browse 000): a failed action is HTTP 200 with success false
 * and the reason, as the original answers.
 */
import { z } from 'zod'
import type { Envelope, ReplicaHandle } from '../replica-handle.ts'
import { runScript, type Dispatch, type Outcome } from '../script.ts'
import { parseResize, pngSize, screenshot } from '../screenshot.ts'
import { deadlineMs, withBackstop } from './backstop.ts'
import { action, ActionError, BINARY, contextFor, seconds, type ActionData, type ActionDef } from './define.ts'
import { domActions } from './dom.ts'
import { pageActions } from './page.ts'
import { sessionActions } from './session.ts'
import { systemActions } from './system.ts'

/** compat: with several replicas only these are accepted over HTTP (others would land on another replica than the last). */
export const CLUSTER_ACTIONS = new Set(['run_script', 'ping', 'sleep'])

const shot = action({ type: z.enum(['browser', 'desktop']).default('browser'), width: z.unknown().optional(), height: z.unknown().optional(), whLargest: z.unknown().optional() }, async (c, a) => {
  const png = await screenshot(c.replica, a.type, parseResize(a))
  return { type: a.type, size: png.length, ...pngSize(png), image: `data:image/png;base64,${png.toString('base64')}`, [BINARY]: png } satisfies ActionData
})

const ACTIONS: Record<string, ActionDef> = {
  ...pageActions,
  ...domActions,
  ...systemActions,
  ...sessionActions,
  screenshot: shot,
  save_screenshot: shot,
  sleep: action({ duration: seconds(1, 300) }, async (_c, a) => {
    await new Promise((r) => setTimeout(r, a.duration))
    return { slept: a.duration / 1000 }
  }),
}
// compat: the MCP tool name of eval, accepted over HTTP too.
ACTIONS.eval_js = ACTIONS.eval

const firstLine = (e: unknown) => {
  const msg = e instanceof Error ? e.message : String(e)
  return (msg.split('\n').find((l) => l.trim()) ?? 'action failed').trim().slice(0, 1000)
}

function issues(name: string, e: z.ZodError) {
  return `invalid parameters for ${name}: ${e.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')}`
}

/** Runs one action (not run_script) on the replica. */
export const dispatch: Dispatch = async (replica, body) => {
  const name = typeof body.action === 'string' ? body.action : ''
  if (!name) return { ok: false, error: 'action required' }
  if (name === 'run_script') return { ok: false, error: 'run_script cannot be a step of a script' }
  const def = Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined
  if (!def) return { ok: false, error: `Unknown action: ${name}` }
  const { action: _a, output_id: _o, ...params } = body
  const args = def.schema.safeParse(params)
  if (!args.success) return { ok: false, error: issues(name, args.error) }
  const ctx = contextFor(replica)
  try {
    return { ok: true, data: await withBackstop(ctx, name, deadlineMs(name, args.data, params), def.run(ctx, args.data)) }
  } catch (e) {
    return { ok: false, error: firstLine(e) }
  }
}

const envelope = (o: Outcome): Envelope =>
  o.ok ? { success: true, timestamp: Date.now() / 1000, data: o.data } : { success: false, timestamp: Date.now() / 1000, error: o.error }

/**
 * The answer to one POST / body. `clusterMode`: the pool has several replicas
 * and the original's rule applies (only run_script, ping and sleep).
 */
export async function runAction(replica: ReplicaHandle, body: unknown, o: { clusterMode?: boolean } = {}): Promise<Envelope> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return envelope({ ok: false, error: 'the body must be a JSON object with an action' })
  const b = body as Record<string, unknown>
  const name = typeof b.action === 'string' ? b.action : ''
  if (o.clusterMode && name && !CLUSTER_ACTIONS.has(name)) {
    return envelope({ ok: false, error: `Action '${name}' not available in cluster mode. Use run_script to execute multiple actions atomically.` })
  }
  if (name === 'run_script') {
    try {
      return envelope({ ok: true, data: await runScript(replica, b, dispatch) })
    } catch (e) {
      if (e instanceof ActionError) return envelope({ ok: false, error: e.message })
      throw e
    }
  }
  return envelope(await dispatch(replica, b))
}
