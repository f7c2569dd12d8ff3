/**
 * ComputerSpec (cloudbox seed 002): its checks and limits, its content-hash id,
 * and the generated body of a spec file.
 */
import { createHash } from 'node:crypto'
import { AppError, invalid } from '../core/errors.ts'

export type SpecFile = { path: string; kind: string; state?: string; description?: string; timestamp?: string; dependsOn?: string[]; content?: string }
export type Collaborator = { id: string; role: string; style?: string; focus?: string; privateFiles?: unknown[] }
export type Objective = { id: string; title: string; description?: string; expectedArtifact?: string }
export type RubricEvent = { type: string } & Record<string, unknown>
export type Criterion = { id: string; weight: number; must: string; mustEvent?: RubricEvent }
export type ComputerSpec = {
  name?: string
  runId?: string
  profile: { role: string } & Record<string, unknown>
  filesystem: SpecFile[]
  collaborators: Collaborator[]
  objectives: Objective[]
  rubric: Criterion[]
} & Record<string, unknown>

export const MAX_SPEC_CHARS = 128_000
export const MAX_FILES = 100
export const MAX_WRITE_CHARS = 64_000

const bad = (detail: string) => invalid(detail, 'bad_spec')
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v)
const optStr = (o: Record<string, unknown>, k: string, where: string) => {
  if (o[k] !== undefined && typeof o[k] !== 'string') throw bad(`${where}.${k} must be a string`)
}
const reqStr = (o: Record<string, unknown>, k: string, where: string) => {
  if (typeof o[k] !== 'string' || !(o[k] as string).trim()) throw bad(`${where}.${k} is required (a non-empty string)`)
}
const array = (v: unknown, where: string): Record<string, unknown>[] => {
  if (!Array.isArray(v)) throw bad(`${where} must be an array`)
  v.forEach((x, i) => {
    if (!isObj(x)) throw bad(`${where}[${i}] must be an object`)
  })
  return v as Record<string, unknown>[]
}
const unique = (items: Record<string, unknown>[], key: string, where: string) => {
  const seen = new Set<unknown>()
  for (const x of items) {
    if (seen.has(x[key])) throw bad(`${where} has ${key} "${String(x[key]).slice(0, 80)}" twice`)
    seen.add(x[key])
  }
}

/** 1–240 chars, relative, no empty, `.` or `..` segments. */
export function validPath(p: unknown): p is string {
  return typeof p === 'string' && p.length >= 1 && p.length <= 240 && !p.startsWith('/') && !p.includes('\0') && !p.split('/').some((s) => s === '' || s === '.' || s === '..')
}

/** Checks a posted spec; 413 spec_too_large past 128,000 chars, else 400 bad_spec / bad_path naming the field. */
export function parseSpec(v: unknown): ComputerSpec {
  if (!isObj(v)) throw bad('spec must be a JSON object')
  if (JSON.stringify(v).length > MAX_SPEC_CHARS) throw new AppError(413, 'spec_too_large', `spec is larger than ${MAX_SPEC_CHARS} characters`)
  optStr(v, 'name', 'spec')
  optStr(v, 'runId', 'spec')
  if (!isObj(v.profile)) throw bad('profile is required (an object with role)')
  reqStr(v.profile, 'role', 'profile')
  const files = array(v.filesystem, 'filesystem')
  if (files.length > MAX_FILES) throw bad(`filesystem holds at most ${MAX_FILES} files`)
  files.forEach((f, i) => {
    if (!validPath(f.path)) throw invalid(`filesystem[${i}].path must be 1–240 characters, relative, without empty, "." or ".." segments`, 'bad_path')
    reqStr(f, 'kind', `filesystem[${i}]`)
    for (const k of ['state', 'description', 'timestamp', 'content']) optStr(f, k, `filesystem[${i}]`)
    if (typeof f.content === 'string' && f.content.length > MAX_WRITE_CHARS) throw bad(`filesystem[${i}].content is longer than ${MAX_WRITE_CHARS} characters`)
    if (f.dependsOn !== undefined && (!Array.isArray(f.dependsOn) || !f.dependsOn.every(validPath))) throw bad(`filesystem[${i}].dependsOn must be an array of paths`)
  })
  unique(files, 'path', 'filesystem')
  const collaborators = array(v.collaborators, 'collaborators')
  collaborators.forEach((c, i) => {
    reqStr(c, 'id', `collaborators[${i}]`)
    reqStr(c, 'role', `collaborators[${i}]`)
    for (const k of ['style', 'focus']) optStr(c, k, `collaborators[${i}]`)
    if (c.privateFiles !== undefined && !Array.isArray(c.privateFiles)) throw bad(`collaborators[${i}].privateFiles must be an array`)
  })
  unique(collaborators, 'id', 'collaborators')
  const objectives = array(v.objectives, 'objectives')
  objectives.forEach((o, i) => {
    reqStr(o, 'id', `objectives[${i}]`)
    reqStr(o, 'title', `objectives[${i}]`)
    for (const k of ['description', 'expectedArtifact']) optStr(o, k, `objectives[${i}]`)
  })
  unique(objectives, 'id', 'objectives')
  const rubric = array(v.rubric, 'rubric')
  rubric.forEach((r, i) => {
    reqStr(r, 'id', `rubric[${i}]`)
    if (typeof r.weight !== 'number' || !Number.isFinite(r.weight) || r.weight < 0) throw bad(`rubric[${i}].weight must be a number ≥ 0`)
    if (typeof r.must !== 'string') throw bad(`rubric[${i}].must is required (text)`)
    // an unknown mustEvent type is allowed: it grades as failed
    if (r.mustEvent !== undefined && (!isObj(r.mustEvent) || typeof r.mustEvent.type !== 'string')) throw bad(`rubric[${i}].mustEvent must be an object with a type`)
  })
  unique(rubric, 'id', 'rubric')
  return v as ComputerSpec
}

/** JSON with object keys sorted at every depth (arrays keep their order). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`
  if (isObj(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

/** compat(cloudbox): `cb_` + 12 hex of SHA-256 — over the whole spec, not the original's top-level keys only. */
export const computerId = (spec: ComputerSpec) => 'cb_' + createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 12)

/** A spec file's body: its own `content` (an extension), else generated from path, kind, state and description. */
export const fileBody = (f: SpecFile) =>
  f.content ?? `# ${f.path}\nKind: ${f.kind}\n${f.state ? `State: ${f.state}\n` : ''}${f.description ? `\n${f.description}\n` : ''}`
