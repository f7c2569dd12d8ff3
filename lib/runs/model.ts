/**
 * Collaborator replies and brief drafts from a gateway model (cloudbox.model):
 * nestbox calls its own gateway over HTTP with a key scoped to the team (minted
 * like a capsule's, so spend lands under the team), in the collaborator's role,
 * style and focus. A model answer that fails or does not fit leaves the caller
 * to its deterministic fallback.
 */
import type { Logger } from '../core/logger.ts'
import type { Gateway } from '../gateway/setup.ts'
import { parseSpec, type Collaborator, type ComputerSpec } from './computer-spec.ts'

export type ModelClient = {
  model: string
  /** The collaborator's reply, or null when the model could not answer. */
  reply(teamId: string, spec: ComputerSpec, who: Collaborator, message: string): Promise<string | null>
  /** A spec drafted from the brief and valid against the schema, or null. */
  draft(teamId: string, brief: string): Promise<ComputerSpec | null>
}

const SPEC_SHAPE = `{"name"?: string, "profile": {"role": string, "seniority"?: string}, "filesystem": [{"path": relative path, "kind": string, "state"?: string, "description"?: string, "dependsOn"?: [path]}], "collaborators": [{"id": string, "role": string, "style"?: string, "focus"?: string}], "objectives": [{"id": string, "title": string, "description"?: string, "expectedArtifact"?: path}], "rubric": [{"id": string, "weight": number, "must": string, "mustEvent"?: {"type": "read"|"wrote", "path": path} | {"type": "readBefore", "before": path, "after": path} | {"type": "submitted", "objective": id, "decision"?: string} | {"type": "asked", "who": id} | {"type": "askedOnly", "who": id, "notWho": id}}]}`

/** The JSON object in a model's answer (bare, or in a ``` fence). */
function jsonIn(text: string): unknown {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(text)?.[1] ?? text
  const start = fenced.indexOf('{')
  const end = fenced.lastIndexOf('}')
  if (start < 0 || end <= start) return null
  try {
    return JSON.parse(fenced.slice(start, end + 1))
  } catch {
    return null
  }
}

export function createModelClient(d: { model: string; gateway: Gateway; log: Logger; baseUrl: () => string | null; timeoutMs?: number }): ModelClient {
  const keys = new Map<string, Promise<string>>()
  const keyFor = (teamId: string, fresh = false) => {
    let k = keys.get(teamId)
    if (!k || fresh) {
      k = d.gateway.mintCapsuleKey(teamId, `cloudbox-${teamId}`, d.baseUrl() ?? 'http://127.0.0.1').then((c) => c.key)
      k.catch(() => keys.delete(teamId))
      keys.set(teamId, k)
    }
    return k
  }

  async function chat(teamId: string, messages: Array<{ role: string; content: string }>, maxTokens: number): Promise<string | null> {
    const base = d.baseUrl()
    if (!base) return null
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const res = await fetch(`${base}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${await keyFor(teamId, attempt > 0)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: d.model, messages, max_tokens: maxTokens, temperature: 0 }),
          signal: AbortSignal.timeout(d.timeoutMs ?? 60_000),
        })
        if (res.status === 401 && attempt === 0) continue // a rotated or revoked key: mint again once
        const body = (await res.json().catch(() => null)) as { choices?: Array<{ message?: { content?: unknown } }> } | null
        const text = body?.choices?.[0]?.message?.content
        if (res.ok && typeof text === 'string' && text.trim()) return text.trim()
        d.log.warn('cloudbox model gave no answer', { model: d.model, status: res.status })
        return null
      } catch (err) {
        d.log.warn('cloudbox model call failed', { model: d.model, err })
        return null
      }
    }
    return null
  }

  return {
    model: d.model,
    reply(teamId, spec, who, message) {
      const persona = [`You are ${who.id}, a ${who.role} collaborating with a ${spec.profile.role}.`, who.style ? `Your style: ${who.style}.` : '', who.focus ? `You care about: ${who.focus}.` : '', 'Answer their message in character, briefly (at most a few sentences).']
      return chat(teamId, [{ role: 'system', content: persona.filter(Boolean).join(' ') }, { role: 'user', content: message }], 400)
    },
    async draft(teamId, brief) {
      const text = await chat(teamId, [{ role: 'system', content: `Draft a synthetic work computer for an agent from a brief. Answer with one JSON object only, of this shape: ${SPEC_SHAPE}. At most 20 files; every rubric criterion with a mustEvent referencing files, collaborators and objectives of the spec.` }, { role: 'user', content: brief }], 4000)
      if (!text) return null
      try {
        return parseSpec(jsonIn(text))
      } catch (err) {
        d.log.info('cloudbox model draft did not fit the schema; deterministic draft used', { model: d.model, err: (err as Error).message })
        return null
      }
    },
  }
}
