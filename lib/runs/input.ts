/**
 * A run request as the cloudbox seed has it, checked against its limits, and
 * where its repository comes from: an https:// host on the allow-list, or a
 * directory under a configured local root (bound read-only into the capsule).
 */
import { realpathSync, statSync } from 'node:fs'
import { relative, sep } from 'node:path'
import { invalid } from '../core/errors.ts'

export type RepoSource = { kind: 'https'; url: string } | { kind: 'local'; root: string; rel: string }

export type RunInput = {
  repo: string
  source: RepoSource
  ref: string | null
  clone: 'shallow' | 'blobless'
  sparse: string[]
  commands: string[]
  verify: string[]
  artifact: string | null
  timeoutMs: number
  async: boolean
  keep: boolean
}

export type RepoPolicy = { allowedHosts: string[]; localRoots: string[] }

export const MAX_STEPS = 12
export const MAX_CMD_CHARS = 1000
export const MAX_TIMEOUT_MS = 120_000
export const DEFAULT_TIMEOUT_MS = 60_000
const REF = /^[A-Za-z0-9_./-]{1,120}$/

/** A path inside the repository: relative, 1–240 chars, no empty, `.` or `..` segments. */
export function repoPath(v: unknown, name: string): string {
  if (typeof v !== 'string' || v.length < 1 || v.length > 240) throw invalid(`${name} must be a path of 1 to 240 characters`)
  if (v.startsWith('/') || v.includes('\0') || v.split('/').some((s) => s === '' || s === '.' || s === '..')) throw invalid(`${name} must be a relative path inside the repository (no empty, "." or ".." segments)`)
  return v
}

function steps(v: unknown, name: string): string[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v) || v.length > MAX_STEPS) throw invalid(`${name} must be an array of at most ${MAX_STEPS} commands`)
  for (const c of v) if (typeof c !== 'string' || !c.trim() || c.length > MAX_CMD_CHARS || c.includes('\0')) throw invalid(`each of ${name} must be a non-empty command of at most ${MAX_CMD_CHARS} characters`)
  return v as string[]
}

function under(root: string, path: string): string | null {
  const rel = relative(root, path)
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && rel.split(sep)[0] !== '..') ? rel : null
}

/** Where `repo` may be cloned from, or a 400 naming the rule it breaks. */
export function repoSource(repo: string, policy: RepoPolicy): RepoSource {
  if (repo.startsWith('https://')) {
    let u: URL
    try {
      u = new URL(repo)
    } catch {
      throw invalid('repo is not a valid URL')
    }
    if (u.username || u.password) throw invalid('repo must not carry credentials')
    const host = u.hostname.toLowerCase()
    if (!policy.allowedHosts.some((h) => h.toLowerCase() === host)) throw invalid(`repository host ${host} is not allowed (allowed: ${policy.allowedHosts.join(', ') || 'none'})`, 'repo_not_allowed')
    return { kind: 'https', url: u.href }
  }
  const path = repo.startsWith('file://') ? decodeURIComponent(repo.slice('file://'.length)) : repo
  if (!path.startsWith('/')) throw invalid('repo must be an https:// URL or an absolute local path')
  let real: string
  try {
    real = realpathSync(path)
    if (!statSync(real).isDirectory()) throw new Error('not a directory')
  } catch {
    // Same answer whether it is missing or outside the roots: no probing of the host's disk.
    throw invalid('repo is not a repository under the configured local roots', 'repo_not_allowed')
  }
  for (const r of policy.localRoots) {
    let root: string
    try {
      root = realpathSync(r)
    } catch {
      continue
    }
    const rel = under(root, real)
    if (rel !== null) return { kind: 'local', root, rel }
  }
  throw invalid('repo is not a repository under the configured local roots', 'repo_not_allowed')
}

export function parseRunInput(body: unknown, policy: RepoPolicy): RunInput {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('request body must be a JSON object')
  const b = body as Record<string, unknown>
  if (typeof b.repo !== 'string' || !b.repo || b.repo.length > 2000) throw invalid('repo is required (an https:// URL or a local path)')
  const source = repoSource(b.repo, policy)
  if (b.ref !== undefined && b.ref !== null && (typeof b.ref !== 'string' || !REF.test(b.ref) || b.ref.startsWith('-') || b.ref.includes('..'))) throw invalid('ref must be 1 to 120 characters of A-Z a-z 0-9 _ . / - (not starting with -)')
  const clone = b.clone ?? 'shallow'
  if (clone !== 'shallow' && clone !== 'blobless') throw invalid('clone must be "shallow" or "blobless"')
  if (b.sparse !== undefined && b.sparse !== null && (!Array.isArray(b.sparse) || b.sparse.length > 64)) throw invalid('sparse must be an array of at most 64 paths')
  // a directory may be written with its trailing slash (docs/)
  const sparse = ((b.sparse as unknown[] | undefined) ?? []).map((p, i) => (typeof p === 'string' && p.length > 1 && p.endsWith('/') ? repoPath(p.slice(0, -1), `sparse[${i}]`) + '/' : repoPath(p, `sparse[${i}]`)))
  const commands = steps(b.commands, 'commands')
  const verify = steps(b.verify, 'verify')
  if (!commands.length && !verify.length) throw invalid('at least one command or verify step is required')
  const artifact = b.artifact === undefined || b.artifact === null ? null : repoPath(b.artifact, 'artifact')
  const t = b.timeoutMs ?? DEFAULT_TIMEOUT_MS
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > MAX_TIMEOUT_MS) throw invalid(`timeoutMs must be an integer between 1 and ${MAX_TIMEOUT_MS}`)
  for (const k of ['async', 'keep'] as const) if (b[k] !== undefined && typeof b[k] !== 'boolean') throw invalid(`${k} must be a boolean`)
  return { repo: b.repo, source, ref: (b.ref as string | undefined) ?? null, clone, sparse, commands, verify, artifact, timeoutMs: t, async: b.async === true, keep: b.keep === true }
}
