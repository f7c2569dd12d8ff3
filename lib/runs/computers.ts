/**
 * Graded agent computers (cloudbox seed 002): a spec materialized under its
 * content-hash id, per team; the agent's protocol (list, read, write, ask,
 * submit) leaves receipts; grade replays them against the rubric.
 */
import { AppError, forbidden, invalid, notFound } from '../core/errors.ts'
import type { Db } from '../core/db.ts'
import type { Clock } from '../core/ids.ts'
import { draftSpec } from './brief.ts'
import { computerId, fileBody, MAX_WRITE_CHARS, parseSpec, validPath, type ComputerSpec } from './computer-spec.ts'
import { grade, type ComputerReceipt } from './grade.ts'
import type { ModelClient } from './model.ts'
import type { RunCaller } from './service.ts'
import { createReceiptLog } from './receipt-log.ts'
import { appendReceipt, findComputer, findWritten, insertComputerOnce, listWritten, putWritten, resetComputer } from './store.computers.ts'

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v)
const body = (v: unknown) => {
  if (!isObj(v)) throw invalid('request body must be a JSON object', 'bad_request')
  return v
}
const badPath = (p: unknown) => invalid(`path must be 1–240 characters, relative, without empty, "." or ".." segments: ${String(p).slice(0, 80)}`, 'bad_path')

/** The deterministic collaborator reply (no model configured). */
export function templatedReply(c: { role: string; style?: string; focus?: string }, message: string): string {
  const echo = message.length > 80 ? `${message.slice(0, 80).trim()}…` : message
  return `${c.style ? `[${c.style}] ` : ''}${c.role} replying re: "${echo}".${c.focus ? ` From my angle (${c.focus}): worth checking that against the spec.` : ''}`
}

/** `model`: replies and brief drafts from a gateway model (cloudbox.model), else the deterministic ones. */
export function createComputers(d: { db: Db; clock: Clock; model: ModelClient | null }) {
  const log = createReceiptLog(d.db)
  const writer = (c: RunCaller) => {
    if (!c.canWrite) throw forbidden('viewers can read computers but not act in them', 'insufficient_role')
  }
  async function load(c: RunCaller, id: string): Promise<ComputerSpec> {
    const row = await findComputer(d.db, c.teamId, id)
    if (!row) throw notFound(`computer ${id.slice(0, 40)} not found`, 'computer_not_found')
    return JSON.parse(row.spec) as ComputerSpec
  }
  /** Appends a receipt, stamped with the spec's runId when it has one. */
  async function record(c: RunCaller, id: string, spec: ComputerSpec, kind: string, payload: Record<string, unknown>) {
    const r: ComputerReceipt = { ts: d.clock.now(), kind, payload: typeof spec.runId === 'string' ? { ...payload, runId: spec.runId } : payload }
    await appendReceipt(d.db, c.teamId, id, r)
    return r
  }

  return {
    /** Materializes a spec; the same spec again is a no-op answering the same id. */
    async create(c: RunCaller, raw: unknown): Promise<{ id: string; baseUrl: string }> {
      writer(c)
      const spec = parseSpec(raw)
      const id = computerId(spec)
      const init = { id, fileCount: spec.filesystem.length, ...(typeof spec.runId === 'string' ? { runId: spec.runId } : {}) }
      await insertComputerOnce(d.db, c.teamId, id, JSON.stringify(spec), d.clock.now(), init)
      return { id, baseUrl: `/api/c/${id}` }
    },

    /** compat(cloudbox): answers {spec} (the original's unawaited promise answered {}); `source` says who drafted it. */
    async brief(c: RunCaller, raw: unknown): Promise<{ spec: ComputerSpec; source: string }> {
      const b = body(raw)
      if (typeof b.brief !== 'string' || !b.brief.trim()) throw invalid('brief is required (text)', 'bad_request')
      if (b.brief.length > 8_000) throw invalid('brief is longer than 8,000 characters', 'bad_request')
      const drafted = d.model ? await d.model.draft(c.teamId, b.brief.trim()) : null
      return drafted ? { spec: drafted, source: `model:${d.model!.model}` } : { spec: draftSpec(b.brief), source: 'deterministic' }
    },

    spec: (c: RunCaller, id: string) => load(c, id),

    async list(c: RunCaller, id: string) {
      const spec = await load(c, id)
      const written = await listWritten(d.db, c.teamId, id)
      const overwritten = new Set(written.map((w) => w.path))
      const files: Array<Record<string, unknown>> = spec.filesystem.map((f) => ({ path: f.path, kind: f.kind, state: overwritten.has(f.path) ? 'written' : f.state, description: f.description, timestamp: f.timestamp, dependsOn: f.dependsOn }))
      const specPaths = new Set(spec.filesystem.map((f) => f.path))
      for (const w of written) if (!specPaths.has(w.path)) files.push({ path: w.path, kind: 'agent-write', state: 'written', timestamp: new Date(w.written_at).toISOString() })
      return { files: files.sort((a, b) => ((a.path as string) < (b.path as string) ? -1 : 1)) }
    },

    async read(c: RunCaller, id: string, path: unknown) {
      writer(c)
      const spec = await load(c, id)
      if (path === undefined || path === '') throw invalid('path query parameter required', 'missing_path')
      if (!validPath(path)) throw badPath(path)
      const file = spec.filesystem.find((f) => f.path === path)
      const written = await findWritten(d.db, c.teamId, id, path)
      if (!file && !written) throw notFound(`file not found: ${path}`, 'file_not_found')
      await record(c, id, spec, 'read', { path })
      return { path, kind: file?.kind ?? 'agent-write', content: written ? written.content : fileBody(file!) }
    },

    async write(c: RunCaller, id: string, raw: unknown) {
      writer(c)
      const spec = await load(c, id)
      const b = body(raw)
      if (b.path === undefined || b.path === '') throw invalid('path required', 'missing_path')
      if (!validPath(b.path)) throw badPath(b.path)
      if (typeof b.content !== 'string') throw invalid('content must be a string', 'bad_request')
      if (b.content.length > MAX_WRITE_CHARS) throw new AppError(413, 'content_too_large', `content is longer than ${MAX_WRITE_CHARS} characters`)
      const now = d.clock.now()
      await putWritten(d.db, { team_id: c.teamId, computer_id: id, path: b.path, content: b.content, written_at: now })
      await record(c, id, spec, 'write', { path: b.path, bytes: b.content.length })
      return { path: b.path, written: b.content.length }
    },

    async ask(c: RunCaller, id: string, raw: unknown) {
      writer(c)
      const spec = await load(c, id)
      const b = body(raw)
      if (typeof b.who !== 'string' || !b.who || typeof b.message !== 'string' || !b.message) throw invalid('who + message required', 'bad_request')
      if (b.message.length > MAX_WRITE_CHARS) throw new AppError(413, 'content_too_large', `message is longer than ${MAX_WRITE_CHARS} characters`)
      const who = spec.collaborators.find((x) => x.id === b.who)
      if (!who) throw notFound(`collaborator not found: ${b.who.slice(0, 80)}`, 'collaborator_not_found')
      const modelReply = d.model ? await d.model.reply(c.teamId, spec, who, b.message) : null
      const reply = modelReply ?? templatedReply(who, b.message)
      // the receipt names the model that replied; a model that failed leaves the template's reply
      await record(c, id, spec, 'ask', { who: who.id, message: b.message, reply, ...(d.model ? { model: modelReply ? d.model.model : null } : {}) })
      return { from: who.id, role: who.role, style: who.style, reply }
    },

    async submit(c: RunCaller, id: string, raw: unknown) {
      writer(c)
      const spec = await load(c, id)
      const b = body(raw)
      if (typeof b.objective !== 'string' || !b.objective) throw invalid('objective required', 'bad_request')
      if (b.decision !== undefined && typeof b.decision !== 'string') throw invalid('decision must be a string', 'bad_request')
      if (b.notes !== undefined && (typeof b.notes !== 'string' || b.notes.length > MAX_WRITE_CHARS)) throw invalid(`notes must be a string of at most ${MAX_WRITE_CHARS} characters`, 'bad_request')
      if (b.paths !== undefined && (!Array.isArray(b.paths) || b.paths.length > 100 || !b.paths.every(validPath))) throw invalid('paths must be an array of at most 100 paths', 'bad_request')
      if (!spec.objectives.some((o) => o.id === b.objective)) throw notFound(`objective not found: ${b.objective.slice(0, 80)}`, 'objective_not_found')
      await record(c, id, spec, 'submit', { objective: b.objective, decision: b.decision, paths: b.paths, notes: b.notes })
      return { objective: b.objective, accepted: true as const }
    },

    /** Replays the receipts (only the spec's run's when it names one), then appends the grade receipt. */
    async grade(c: RunCaller, id: string) {
      const spec = await load(c, id)
      const g = grade(spec, await log.all(c.teamId, id))
      await record(c, id, spec, 'grade', { score: g.score, max: g.max })
      return g
    },

    /** The log; `runId` narrows it to one run's receipts. */
    async receipts(c: RunCaller, id: string, runId?: string) {
      await load(c, id)
      const all = await log.all(c.teamId, id)
      return { receipts: runId ? all.filter((r) => r.payload.runId === runId) : all }
    },

    /** A fresh start for the spec's run: the agent's files and the run's receipts go, a reset receipt stays. */
    async reset(c: RunCaller, id: string) {
      writer(c)
      const spec = await load(c, id)
      if (typeof spec.runId !== 'string') throw invalid('reset requires a spec with a runId', 'missing_run_id')
      await resetComputer(d.db, c.teamId, id, spec.runId, { ts: d.clock.now(), kind: 'reset', payload: { runId: spec.runId } })
      return { reset: true, runId: spec.runId }
    },
  }
}
export type Computers = ReturnType<typeof createComputers>
