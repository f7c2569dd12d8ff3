/** Grading (cloudbox seed 002): a pure replay of a computer's receipts against its rubric. */
import type { ComputerSpec, RubricEvent } from './computer-spec.ts'

export type ComputerReceipt = { ts: number; kind: string; payload: Record<string, unknown> }
export type Grade = {
  score: number
  max: number
  totalWeight: number
  passed: string[]
  failed: string[]
  ungraded: string[]
  detail: Array<{ id: string; weight: number; must: string; status: 'passed' | 'failed' | 'ungraded' }>
}

const firstRead = (rs: ComputerReceipt[], path: unknown) => rs.findIndex((r) => r.kind === 'read' && r.payload.path === path)
const some = (rs: ComputerReceipt[], kind: string, key: string, value: unknown) => rs.some((r) => r.kind === kind && r.payload[key] === value)

function passes(e: RubricEvent, rs: ComputerReceipt[]): boolean {
  switch (e.type) {
    case 'read':
      return some(rs, 'read', 'path', e.path)
    case 'wrote':
      return some(rs, 'write', 'path', e.path)
    case 'readBefore': {
      // fails if `before` was never read; passes if `after` never was
      const before = firstRead(rs, e.before)
      const after = firstRead(rs, e.after)
      return before !== -1 && (after === -1 || before < after)
    }
    case 'submitted':
      return rs.some((r) => r.kind === 'submit' && r.payload.objective === e.objective && (e.decision === undefined || e.decision === null || r.payload.decision === e.decision))
    case 'asked':
      return some(rs, 'ask', 'who', e.who)
    case 'askedOnly':
      return some(rs, 'ask', 'who', e.who) && !some(rs, 'ask', 'who', e.notWho)
    default:
      return false
  }
}

/** The receipts a grade counts: only the spec's run's when it names one. */
export const gradedReceipts = (spec: ComputerSpec, rs: ComputerReceipt[]) => (typeof spec.runId === 'string' ? rs.filter((r) => r.payload.runId === spec.runId) : rs)

export function grade(spec: ComputerSpec, receipts: ComputerReceipt[]): Grade {
  const rs = gradedReceipts(spec, receipts)
  const g: Grade = { score: 0, max: 0, totalWeight: 0, passed: [], failed: [], ungraded: [], detail: [] }
  for (const c of spec.rubric) {
    g.totalWeight += c.weight
    if (!c.mustEvent) {
      g.ungraded.push(c.id)
      g.detail.push({ id: c.id, weight: c.weight, must: c.must, status: 'ungraded' })
      continue
    }
    g.max += c.weight
    const ok = passes(c.mustEvent, rs)
    if (ok) g.score += c.weight
    ;(ok ? g.passed : g.failed).push(c.id)
    g.detail.push({ id: c.id, weight: c.weight, must: c.must, status: ok ? 'passed' : 'failed' })
  }
  return g
}
