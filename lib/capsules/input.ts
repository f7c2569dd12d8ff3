/** Validation of what callers send: create requests, metadata, names, tags and paths. */
import type { Config } from '../core/config/index.ts'
import { invalid } from '../core/errors.ts'
import { NETWORK_MODES, parseAllowOut, type NetworkMode } from './runtime/network.ts'

export type CapsuleLimits = Config['capsules']

/** compat(wrenn): metadata keys and snapshot names share this shape. */
export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/
const MAX_METADATA_KEYS = 20
const MAX_METADATA_VALUE = 64

export type NewCapsule = {
  template: string
  vcpus: number | null
  memoryMb: number | null
  diskSizeMb: number
  timeoutSec: number
  metadata: Record<string, string>
  teamId: string | null
  network: NetworkMode
  allowOut: string[] | null
  publicPorts: number[]
}

const isObject = (v: unknown): v is Record<string, unknown> => v != null && typeof v === 'object' && !Array.isArray(v)

function intField(body: Record<string, unknown>, key: string, min: number, max: number): number | null {
  const v = body[key]
  if (v === undefined || v === null) return null
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(`${key} must be an integer`)
  if (v < min || v > max) throw invalid(`${key} must be between ${min} and ${max} (got ${v})`, 'out_of_bounds')
  return v
}

export function parseMetadata(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {}
  if (!isObject(v)) throw invalid('metadata must be an object of string values', 'invalid_metadata')
  const keys = Object.keys(v)
  if (keys.length > MAX_METADATA_KEYS) throw invalid(`metadata may have at most ${MAX_METADATA_KEYS} keys (got ${keys.length})`, 'invalid_metadata')
  for (const k of keys) {
    if (!NAME_RE.test(k)) throw invalid(`metadata key "${k.slice(0, 80)}" must match [a-zA-Z0-9][a-zA-Z0-9._-]{0,63}`, 'invalid_metadata')
    const val = v[k]
    if (typeof val !== 'string') throw invalid(`metadata value of "${k}" must be a string`, 'invalid_metadata')
    if (val.length > MAX_METADATA_VALUE) throw invalid(`metadata value of "${k}" is longer than ${MAX_METADATA_VALUE} characters`, 'invalid_metadata')
  }
  return v as Record<string, string>
}

/** compat(wrenn): timeout_sec is an idle auto-pause; 0 = never; positive values below the minimum (60) are raised to it. */
export function parseTimeoutSec(v: unknown, minTimeoutSec: number): number {
  if (v === undefined || v === null) return 0
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalid('timeout_sec must be an integer >= 0')
  if (v > 30 * 86_400) throw invalid('timeout_sec must be at most 2592000 (30 days)', 'out_of_bounds')
  return v === 0 ? 0 : Math.max(v, minTimeoutSec)
}

/** Checks a create request against the configured bounds. vcpus/memory stay null when omitted (the template's own apply). */
export function parseNewCapsule(body: unknown, cfg: CapsuleLimits): NewCapsule {
  if (body === undefined || body === null) body = {}
  if (!isObject(body)) throw invalid('request body must be a JSON object')
  const l = cfg.limits
  const template = body.template ?? 'minimal'
  if (typeof template !== 'string' || !template) throw invalid('template must be a non-empty string')
  const teamId = body.team_id
  if (teamId !== undefined && typeof teamId !== 'string') throw invalid('team_id must be a string')
  return {
    template,
    vcpus: intField(body, 'vcpus', 1, l.maxVcpus),
    memoryMb: intField(body, 'memory_mb', l.minMemoryMb, l.maxMemoryMb),
    diskSizeMb: intField(body, 'disk_size_mb', 1, l.maxDiskSizeMb) ?? Math.min(cfg.defaults.diskSizeMb, l.maxDiskSizeMb),
    timeoutSec: parseTimeoutSec(body.timeout_sec, l.minTimeoutSec),
    metadata: parseMetadata(body.metadata),
    teamId: (teamId as string | undefined) ?? null,
    ...parseNetwork(body, cfg),
  }
}

/** nestbox extension of the create request: network, allow_out, public_ports. */
function parseNetwork(body: Record<string, unknown>, cfg: CapsuleLimits) {
  const network = body.network ?? cfg.network.default
  if (typeof network !== 'string' || !NETWORK_MODES.includes(network as NetworkMode)) throw invalid(`network must be one of ${NETWORK_MODES.join(', ')}`, 'invalid_network')
  const own = parseAllowOut(body.allow_out)
  if (own && network !== 'internet') throw invalid('allow_out applies to network "internet" only', 'invalid_network')
  const allowOut = network === 'internet' ? (own ?? (cfg.network.allowOut.length ? parseAllowOut(cfg.network.allowOut)! : null)) : null
  const ports = body.public_ports ?? []
  if (!Array.isArray(ports) || ports.length > 64 || !ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)) throw invalid('public_ports must be an array of at most 64 port numbers (1-65535)', 'invalid_network')
  return { network: network as NetworkMode, allowOut, publicPorts: [...new Set(ports as number[])] }
}

/** An absolute path inside a capsule. Escapes via `..` or symlinks are the runtime's to refuse. */
export function parseCapsulePath(v: unknown, field = 'path'): string {
  if (typeof v !== 'string' || v === '') throw invalid(`${field} is required`, 'invalid_path')
  if (!v.startsWith('/')) throw invalid(`${field} must be an absolute path inside the capsule (got "${v.slice(0, 200)}")`, 'invalid_path')
  if (v.length > 4096 || v.includes('\0')) throw invalid(`${field} is not a valid path`, 'invalid_path')
  return v
}

export function parseTag(v: unknown): string | null {
  if (v === undefined || v === null || v === '') return null
  if (typeof v !== 'string' || !NAME_RE.test(v)) throw invalid('tag must match [a-zA-Z0-9][a-zA-Z0-9._-]{0,63}', 'invalid_tag')
  return v
}

export function parseEnvs(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined
  if (!isObject(v)) throw invalid('envs must be an object of strings')
  for (const [k, val] of Object.entries(v)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw invalid(`envs key "${k.slice(0, 80)}" is not a valid variable name`)
    if (typeof val !== 'string') throw invalid(`envs value of "${k}" must be a string`)
  }
  return v as Record<string, string>
}

export function parseArgs(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v) || !v.every((a) => typeof a === 'string')) throw invalid('args must be an array of strings')
  return v
}
