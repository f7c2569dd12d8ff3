/**
 * Bus events as the Wrenn SSE payload (seed 003 SSEEvent): event, outcome,
 * resource, actor, metadata, error, sandbox, timestamp (+ team_id, as Wrenn's
 * channel payload has). Only bus events with a renderer here are logged and
 * streamed; internal signals (e.g. team.delete's cleanup trigger) are not.
 */
import type { BusEvent } from '../core/events.ts'
import { toWrennCapsule } from '../capsules/wire.v1.ts'
import type { CapsuleRow } from '../capsules/tables.ts'

export type WireEvent = { type: string; teamId: string | null; data: Record<string, unknown> }
type Actor = { type: string; id: string; name: string }

/** Audit entries of these resources are not streamed: their services publish richer events of their own. */
const SELF_PUBLISHED = new Set(['capsule', 'template', 'build'])

const strings = (o: Record<string, unknown> | undefined) => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(o ?? {})) if (v !== undefined && v !== null && v !== '') out[k] = typeof v === 'string' ? v : JSON.stringify(v)
  return out
}

function base(e: BusEvent, type: string, resourceType: string) {
  return { event: type, resource: { id: e.resourceId ?? '', type: resourceType }, team_id: e.teamId, timestamp: new Date(e.at).toISOString() }
}

function capsule(e: BusEvent): WireEvent {
  const { sandbox, outcome, actor, error, ...rest } = (e.data ?? {}) as { sandbox?: CapsuleRow; outcome?: string; actor?: Actor; error?: unknown }
  const data: Record<string, unknown> = base(e, e.type, 'sandbox')
  if (e.type !== 'capsule.state.changed') data.outcome = outcome ?? 'success'
  if (actor) data.actor = actor
  data.metadata = strings(rest)
  if (outcome === 'error') data.error = String(error ?? '')
  data.sandbox = sandbox ? toWrennCapsule(sandbox) : null
  return { type: e.type, teamId: e.teamId, data }
}

function template(e: BusEvent): WireEvent {
  const { outcome, actor, error, ...rest } = (e.data ?? {}) as { outcome?: string; actor?: Actor; error?: unknown }
  const data: Record<string, unknown> = { ...base(e, e.type, 'snapshot'), outcome: outcome ?? 'success' }
  if (actor) data.actor = actor
  data.metadata = strings(rest)
  if (outcome === 'error') data.error = String(error ?? '')
  return { type: e.type, teamId: e.teamId, data }
}

/** Audit entries (team, member, api_key, channel, session, user ...) as `<resource>.<action>`. */
function audit(e: BusEvent): WireEvent | null {
  if (!e.resourceType || SELF_PUBLISHED.has(e.resourceType)) return null
  const d = (e.data ?? {}) as { action?: string; status?: string; actor?: Actor; metadata?: Record<string, unknown> }
  const type = `${e.resourceType}.${d.action}`
  const data: Record<string, unknown> = { ...base(e, type, e.resourceType), outcome: d.status === 'failure' ? 'error' : 'success' }
  if (d.actor) data.actor = d.actor
  data.metadata = strings(d.metadata)
  return { type, teamId: e.teamId, data }
}

/** Events whose publisher already gives the whole payload in `data` (builds, hosts, deliveries). */
function plain(e: BusEvent): WireEvent {
  return { type: e.type, teamId: e.teamId, data: { ...base(e, e.type, e.resourceType ?? ''), ...e.data } }
}

/** The SSE payload of a bus event, or null when it is not a streamed event. */
export function toWireEvent(e: BusEvent): WireEvent | null {
  if (e.type === 'audit') return audit(e)
  if (e.type.startsWith('capsule.')) return capsule(e)
  if (e.type.startsWith('template.')) return template(e)
  if (e.type.startsWith('build.') || e.type.startsWith('host.') || e.type.startsWith('channel.')) return plain(e)
  return null
}
