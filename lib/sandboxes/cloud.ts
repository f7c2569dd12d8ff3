/**
 * The capsule side of cloud sandboxes: a capsule of the workspace's team (network
 * mode nestbox, so the service reaches /proxy/anthropic and nothing else), the
 * type's program bound in read-only, its service started as a tagged background
 * process; readiness is the service accepting on its port through the capsule's
 * ports relay (the same connection the subdomain proxy uses) with a 200 from its health path.
 */
import { request as httpRequest } from 'node:http'
import { AppError, isAppError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { system } from '../core/principal.ts'
import type { CapsuleService } from '../capsules/service.ts'
import { NESTBOX_URL } from '../capsules/runtime/network.ts'
import { LAUNCHERS, WORKDIR, type HostPaths } from './launchers.ts'
import type { CloudDriver } from './service.ts'
import type { SandboxRow } from './tables.ts'
import type { SandboxTokens } from './tokens.ts'

export const SERVICE_TAG = 'sandbox-service'
const POLL_MS = 150
const TAIL_BYTES = 2048
const HEALTH_TIMEOUT_MS = 5000

export type CloudDeps = {
  capsules: CapsuleService
  tokens: SandboxTokens
  paths: HostPaths
  log: Logger
  memoryMb: number
  vcpus: number
  model: string
  startTimeoutMs: number
  /** The browser origin of the sandbox's subdomain (openclaw allows it for its Control UI), or null. */
  origin: (sb: SandboxRow) => string | null
}

export function createCloudDriver(d: CloudDeps): CloudDriver {
  const caps = d.capsules.admin
  /** Services started by this process: their exit and the tail of their output (for the error shown). */
  const services = new Map<string, { exited: number | null; tail: string }>()

  const capsuleStatus = async (id: string) => {
    try {
      return (await caps.get(system, id)).status
    } catch (err) {
      if (isAppError(err) && err.status === 404) return null
      throw err
    }
  }

  /** One GET of the service's health path through the ports relay: true on 200 (a listening socket alone is not ready). */
  const healthy = (capsuleId: string, sb: SandboxRow) =>
    new Promise<boolean>((resolve) => {
      const l = LAUNCHERS[sb.type]
      const req = httpRequest({ path: l.healthPath, headers: { host: 'localhost', authorization: l.authorization(d.tokens.serviceToken(sb.id)) }, agent: d.capsules.portConnections.agent(capsuleId, l.port), timeout: HEALTH_TIMEOUT_MS }, (res) => {
        res.resume()
        resolve(res.statusCode === 200)
      })
      req.on('timeout', () => req.destroy())
      req.on('error', () => resolve(false))
      req.end()
    })

  return {
    capsuleStatus,

    async launch(sb, onExit) {
      const l = LAUNCHERS[sb.type]
      const binds = await l.binds(d.paths)
      const limits = d.capsules.config.limits
      const row = await caps.create(
        system,
        { team_id: sb.team_id, network: 'nestbox', vcpus: Math.min(d.vcpus, limits.maxVcpus), memory_mb: Math.min(d.memoryMb, limits.maxMemoryMb), timeout_sec: 0, metadata: { sandbox: sb.id, sandbox_type: sb.type } },
        { binds },
      )
      // waits for the boot (exec waits for a starting capsule)
      const mk = await caps.processes.exec(system, row.id, { cmd: 'mkdir', args: ['-p', WORKDIR], timeoutSec: 30, background: false, tag: null })
      if (mk.exitCode !== 0) throw new AppError(503, 'sandbox_unavailable', `the sandbox's work directory could not be made`)
      const c = l.command({ proxyToken: d.tokens.proxyToken(sb.id), serviceToken: d.tokens.serviceToken(sb.id), nestboxUrl: NESTBOX_URL, origin: d.origin(sb), model: d.model }, d.paths)
      const h = await caps.processes.spawn(system, row.id, { cmd: c.cmd, args: c.args, envs: c.envs, cwd: c.cwd, tag: SERVICE_TAG })
      const state = { exited: null as number | null, tail: '' }
      services.set(row.id, state)
      const keep = (b: Buffer) => (state.tail = (state.tail + b.toString('utf8')).slice(-TAIL_BYTES))
      h.onStdout(keep)
      h.onStderr(keep)
      void h.exited.then((code) => {
        state.exited = code
        d.log.info('sandbox service exited', { sandbox: sb.id, capsule: row.id, code })
        onExit(`${sb.type} exited with code ${code}: ${state.tail.trim().split('\n').slice(-3).join(' | ')}`)
      })
      d.log.info('sandbox started', { sandbox: sb.id, type: sb.type, capsule: row.id, team: sb.team_id })
      return row.id
    },

    async ready(sb) {
      const port = LAUNCHERS[sb.type].port
      const deadline = Date.now() + d.startTimeoutMs
      for (;;) {
        const s = services.get(sb.capsule_id)
        if (s?.exited != null) throw new Error(`${sb.type} exited with code ${s.exited} before it answered: ${s.tail.trim().split('\n').slice(-3).join(' | ')}`)
        const status = await capsuleStatus(sb.capsule_id)
        if (status !== 'running' && status !== 'starting' && status !== 'pending') throw new Error(`the capsule is ${status ?? 'gone'}`)
        if (status === 'running' && (await healthy(sb.capsule_id, sb))) return
        if (Date.now() > deadline) throw new Error(`${sb.type} did not answer ${LAUNCHERS[sb.type].healthPath} on port ${port} within ${Math.round(d.startTimeoutMs / 1000)} s`)
        await new Promise((r) => setTimeout(r, POLL_MS))
      }
    },

    pause: async (id) => void (await caps.pause(system, id)),
    resume: async (id) => void (await caps.resume(system, id)),
    async destroy(id) {
      services.delete(id)
      await caps.destroy(system, id).catch((err) => {
        if (!(isAppError(err) && err.status === 404)) throw err
      })
    },
  }
}
