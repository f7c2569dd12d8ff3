/** Validation of what claudebox callers send: run requests, workspace names, paths inside a workspace. */
import { posix } from 'node:path'
import { invalid } from '../core/errors.ts'
import { WORKSPACE_DIR } from './cli.ts'

export const WORKSPACE_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/
export const EFFORTS = ['low', 'medium', 'high', 'xhigh', 'max'] as const

export type RunRequest = {
  prompt: string
  workspace: string
  model: string | null
  systemPrompt: string | null
  appendSystemPrompt: string | null
  jsonSchema: string | null
  effort: string | null
  outputFormat: 'json' | 'json-verbose'
  noContinue: boolean
  resume: string | null
  fireAndForget: boolean
  async: boolean
  stream: boolean
}

export function parseWorkspace(v: unknown): string {
  if (v === undefined || v === null || v === '') return 'default'
  if (typeof v !== 'string' || !WORKSPACE_RE.test(v)) throw invalid('workspace must be 1-64 letters, digits, ".", "_" or "-" (starting with a letter or digit)', 'invalid_workspace')
  return v
}

const optString = (b: Record<string, unknown>, k: string): string | null => {
  const v = b[k]
  if (v === undefined || v === null || v === '') return null
  if (typeof v !== 'string') throw invalid(`${k} must be a string`)
  return v
}
const optBool = (b: Record<string, unknown>, k: string): boolean => {
  const v = b[k]
  if (v === undefined || v === null) return false
  if (typeof v !== 'boolean') throw invalid(`${k} must be a boolean`)
  return v
}

/** compat(claudebox 000): POST /run's fields. */
export function parseRun(body: unknown): RunRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('request body must be a JSON object')
  const b = body as Record<string, unknown>
  if (typeof b.prompt !== 'string' || !b.prompt.trim()) throw invalid('prompt is required', 'missing_prompt')
  const outputFormat = optString(b, 'outputFormat') ?? 'json'
  if (outputFormat !== 'json' && outputFormat !== 'json-verbose') throw invalid('outputFormat must be json or json-verbose')
  const effort = optString(b, 'effort')
  if (effort && !(EFFORTS as readonly string[]).includes(effort)) throw invalid(`effort must be one of ${EFFORTS.join(', ')}`)
  const jsonSchema = optString(b, 'jsonSchema')
  if (jsonSchema) {
    try {
      JSON.parse(jsonSchema)
    } catch {
      throw invalid('jsonSchema must be a JSON Schema as a string')
    }
  }
  const resume = optString(b, 'resume')
  if (resume && !/^[a-zA-Z0-9-]{1,64}$/.test(resume)) throw invalid('resume must be a session id')
  const r: RunRequest = {
    prompt: b.prompt,
    workspace: parseWorkspace(b.workspace),
    model: optString(b, 'model'),
    systemPrompt: optString(b, 'systemPrompt'),
    appendSystemPrompt: optString(b, 'appendSystemPrompt'),
    jsonSchema,
    effort,
    outputFormat,
    noContinue: optBool(b, 'noContinue'),
    resume,
    fireAndForget: optBool(b, 'fireAndForget'),
    async: optBool(b, 'async'),
    stream: optBool(b, 'stream'),
  }
  if (r.async && r.stream) throw invalid('async and stream cannot be combined')
  return r
}

/** A path inside a workspace (relative to its root) → the absolute path in its capsule; 400 when it leaves the root. */
export function workspacePath(rel: string): string {
  if (rel.includes('\0')) throw invalid('path is not valid', 'invalid_path')
  const abs = posix.normalize(posix.join(WORKSPACE_DIR, rel))
  if (abs !== WORKSPACE_DIR && !abs.startsWith(WORKSPACE_DIR + '/')) throw invalid('path is outside the workspace root', 'path_outside_root')
  return abs.replace(/\/+$/, '') || WORKSPACE_DIR
}
