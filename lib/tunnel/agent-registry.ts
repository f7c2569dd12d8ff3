/**
 * The local agent's credentials (`nestbox agent ...`): one JSON file, mode 0600
 * in a 0700 directory, default ~/.config/nestbox/agents.json. Written whole to a
 * temporary file and renamed, so a crash never leaves half a file.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

export type AgentEntry = {
  sandbox_id: string
  workspace_id: string
  tunnel_token: string
  server: string
  name: string
  opencode_port: number
  created_at: string
}

export const defaultRegistryPath = () => join(homedir(), '.config', 'nestbox', 'agents.json')

export function readRegistry(file: string): AgentEntry[] {
  if (!existsSync(file)) return []
  let data: unknown
  try {
    data = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    throw new Error(`${file} is not valid JSON; fix or remove it`)
  }
  const agents = (data as { agents?: unknown })?.agents
  if (!Array.isArray(agents)) throw new Error(`${file} has no "agents" list; fix or remove it`)
  return agents as AgentEntry[]
}

export function writeRegistry(file: string, agents: AgentEntry[]) {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify({ agents }, null, 2) + '\n', { mode: 0o600 })
  chmodSync(tmp, 0o600) // an existing file keeps its mode on write
  renameSync(tmp, file)
}

export function saveAgent(file: string, entry: AgentEntry) {
  writeRegistry(file, [...readRegistry(file).filter((a) => a.sandbox_id !== entry.sandbox_id), entry])
}

/** Removes an agent by sandbox id (or a unique prefix of it); the entry removed, or null. */
export function removeAgent(file: string, id: string): AgentEntry | null {
  const agents = readRegistry(file)
  const hits = agents.filter((a) => a.sandbox_id === id || a.sandbox_id.startsWith(id))
  if (hits.length !== 1) return null
  writeRegistry(file, agents.filter((a) => a !== hits[0]))
  return hits[0]
}

/** A server URL as the registry compares them (no trailing slash). */
export const normalizeServer = (url: string) => new URL(url).toString().replace(/\/+$/, '')
