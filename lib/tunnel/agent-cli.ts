/**
 * `nestbox agent connect | list | remove`: the same executable as a local agent.
 * connect registers with a one-time code (or reuses the saved credentials for
 * that server), optionally starts opencode, and keeps the tunnel up.
 */
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { createLogger } from '../core/logger.ts'
import { startAgentClient } from './agent-client.ts'
import { agentInfo, resolveOpencode, startOpencode, waitForPort } from './agent-info.ts'
import { opencodeAuthorization } from '../sandboxes/launchers.ts'
import { defaultRegistryPath, normalizeServer, readRegistry, removeAgent, saveAgent, type AgentEntry } from './agent-registry.ts'

export const AGENT_USAGE = `usage:
  nestbox agent connect --server URL --code CODE [--name NAME] [--opencode-port 4096] [--auto-start]
  nestbox agent connect --server URL            reconnect with the credentials saved for URL
  nestbox agent list
  nestbox agent remove <sandbox-id>             forget an agent's credentials (delete the sandbox on the server to revoke them)
options: --registry FILE (default ~/.config/nestbox/agents.json), --workdir DIR (opencode's directory, default the current one),
         --opencode-bin FILE (default: opencode on PATH, else the one nestbox installs)`

class AgentUsageError extends Error {}

/** Runs one agent command; resolves to the exit code (connect resolves only when the agent stops). */
export async function runAgentCli(argv: string[], o: { onSignal: (fn: () => void) => void }): Promise<number> {
  let args: ReturnType<typeof parse>
  try {
    args = parse(argv)
  } catch (err) {
    console.error(`nestbox agent: ${(err as Error).message}\n${AGENT_USAGE}`)
    return 2
  }
  const registry = args.values.registry ?? defaultRegistryPath()
  const [command, ...rest] = args.positionals
  try {
    switch (command) {
      case 'list':
        return list(registry)
      case 'remove': {
        if (rest.length !== 1) throw new AgentUsageError('remove takes one sandbox id')
        const gone = removeAgent(registry, rest[0])
        if (!gone) {
          console.error(`nestbox agent: no saved agent (or more than one) matches "${rest[0]}"`)
          return 1
        }
        console.log(`removed ${gone.sandbox_id} (${gone.name}, ${gone.server}); delete the sandbox on the server to revoke its token`)
        return 0
      }
      case 'connect':
        return await connectCommand(registry, args.values, o.onSignal)
      default:
        throw new AgentUsageError(command ? `unknown agent command "${command}"` : 'missing agent command')
    }
  } catch (err) {
    if (err instanceof AgentUsageError) {
      console.error(`nestbox agent: ${err.message}\n${AGENT_USAGE}`)
      return 2
    }
    console.error(`nestbox agent: ${(err as Error).message}`)
    return 1
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      code: { type: 'string' },
      name: { type: 'string' },
      'opencode-port': { type: 'string' },
      'auto-start': { type: 'boolean' },
      registry: { type: 'string' },
      workdir: { type: 'string' },
      'opencode-bin': { type: 'string' },
    },
  })
}
type Values = ReturnType<typeof parse>['values']

function list(registry: string): number {
  const agents = readRegistry(registry)
  if (!agents.length) console.log('no local agents registered')
  for (const a of agents) console.log([a.sandbox_id, a.name, a.server, `workspace ${a.workspace_id}`, `port ${a.opencode_port}`].join('\t'))
  return 0
}

async function register(server: string, code: string, name: string | undefined): Promise<{ sandbox_id: string; tunnel_token: string; workspace_id: string }> {
  const res = await fetch(new URL('/api/agent/register', server), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, ...(name !== undefined ? { name } : {}) }) })
  const body = (await res.json().catch(() => ({}))) as { error?: string; sandbox_id?: string; tunnel_token?: string; workspace_id?: string }
  if (res.status !== 201 || !body.sandbox_id || !body.tunnel_token || !body.workspace_id) throw new Error(`registration failed (${res.status}): ${body.error ?? 'unexpected answer'}`)
  return body as { sandbox_id: string; tunnel_token: string; workspace_id: string }
}

async function connectCommand(registry: string, v: Values, onSignal: (fn: () => void) => void): Promise<number> {
  if (!v.server) throw new AgentUsageError('connect needs --server URL')
  let server: string
  try {
    server = normalizeServer(v.server)
  } catch {
    throw new AgentUsageError(`--server ${v.server} is not a URL`)
  }
  const port = v['opencode-port'] === undefined ? undefined : Number(v['opencode-port'])
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new AgentUsageError('--opencode-port must be a port number')
  const log = createLogger({ level: 'info' }).child({ mod: 'agent' })

  let entry: AgentEntry
  if (v.code) {
    const r = await register(server, v.code, v.name)
    entry = { ...r, server, name: v.name ?? 'Local Agent', opencode_port: port ?? 4096, created_at: new Date().toISOString() }
    saveAgent(registry, entry)
    console.log(`registered local agent ${entry.sandbox_id} in workspace ${entry.workspace_id} (credentials in ${registry})`)
  } else {
    const saved = readRegistry(registry).filter((a) => a.server === server)
    if (saved.length !== 1) throw new AgentUsageError(saved.length ? `${saved.length} agents are saved for ${server}; remove all but one` : `no agent saved for ${server}: pass --code from the workspace`)
    entry = { ...saved[0], opencode_port: port ?? saved[0].opencode_port }
  }

  const workdir = v.workdir ?? process.cwd()
  const found = await resolveOpencode(v['opencode-bin'])
  let opencode: ReturnType<typeof startOpencode> | null = null
  // an opencode the agent starts takes a password only the agent knows: other users of this machine reach its port too
  const password = v['auto-start'] ? randomBytes(24).toString('base64url') : null
  if (password) {
    if (!found) throw new Error(`--auto-start: no opencode found (${v['opencode-bin'] ?? 'not on PATH, and nestbox has none installed'}); install it (npm i -g opencode-ai) or pass --opencode-bin`)
    opencode = startOpencode(found.bin, entry.opencode_port, workdir, password)
    opencode.once('error', (err) => log.error('opencode could not start', { bin: found.bin, err: err.message }))
    if (!(await waitForPort(entry.opencode_port, 60_000))) log.warn('opencode does not answer yet', { port: entry.opencode_port })
    else log.info('opencode started', { bin: found.bin, version: found.version, port: entry.opencode_port })
  }
  const version = found?.version ?? null
  const client = startAgentClient({
    server,
    sandboxId: entry.sandbox_id,
    token: entry.tunnel_token,
    localPort: entry.opencode_port,
    ...(password ? { localAuthorization: opencodeAuthorization(password) } : {}),
    log,
    info: () => agentInfo({ workdir, opencodeVersion: version, localPort: entry.opencode_port }),
  })
  onSignal(() => client.stop())
  let opencodeDied = false
  opencode?.once('exit', (code, signal) => {
    log.error('opencode exited; stopping the agent', { code, signal })
    opencodeDied = true
    client.stop()
  })
  const why = await client.done
  opencode?.kill('SIGTERM')
  if (why === 'removed') {
    removeAgent(registry, entry.sandbox_id)
    console.error('nestbox agent: the sandbox was removed on the server; its credentials are forgotten')
    return 1
  }
  if (why === 'replaced') console.error('nestbox agent: another connection with these credentials took over; stopping')
  if (why === 'rejected') console.error(`nestbox agent: the server refused the tunnel token; run "nestbox agent remove ${entry.sandbox_id}" and register again`)
  return why === 'stopped' && !opencodeDied ? 0 : 1
}
