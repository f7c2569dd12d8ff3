/** POST /api/brief's deterministic draft (cloudbox seed 002): a minimal spec to edit, from a one-line brief. */
import type { ComputerSpec } from './computer-spec.ts'

const ROLE = /^\s*An?\s+([^,.]+?)(?:\s+responsible|\s+working|\s+who|[,.])/i
const SENIORITY = /\b(junior|senior|staff|principal|lead)\b/i

export function draftSpec(brief: string): ComputerSpec {
  const text = brief.trim()
  const seniority = SENIORITY.exec(text)?.[1].toLowerCase()
  return {
    name: 'draft',
    profile: { role: ROLE.exec(text)?.[1].trim().toLowerCase() ?? 'knowledge worker', ...(seniority ? { seniority } : {}) },
    filesystem: [{ path: 'BRIEF.md', kind: 'design-doc', description: text }],
    collaborators: [{ id: 'reviewer', role: 'reviewer' }],
    objectives: [{ id: 'complete', title: 'Complete the work described in BRIEF.md' }],
    rubric: [{ id: 'read-brief', weight: 1, must: 'reads BRIEF.md before starting work', mustEvent: { type: 'read', path: 'BRIEF.md' } }],
  }
}
