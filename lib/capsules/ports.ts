/**
 * Opening a TCP port inside a capsule from outside (issue 10, port exposure):
 * who may (the capsule's team, a holder of a short-lived port token, anyone for
 * a port in public_ports), and the connection itself, through the runtime's
 * ports relay, so no host port is ever opened per capsule.
 */
import { Agent } from 'node:http'
import type { Socket } from 'node:net'
import { createHmac, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AppError, invalid } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import { safeEqual } from '../core/secrets.ts'
import type { Scope } from './access.ts'
import type { CapsuleContext } from './context.ts'
import { joinSockets } from './runtime/network.ts'
import type { CapsuleRow } from './tables.ts'

const MAX_TOKEN_TTL_SEC = 7 * 86_400
/** Capsule ports with pooled connections at once; an idle pooled connection closes after IDLE_SOCKET_MS. */
const MAX_AGENTS = 1024
const IDLE_SOCKET_MS = 30_000

export function parsePort(v: unknown): number {
  const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) throw invalid('port must be a number from 1 to 65535', 'invalid_port')
  return n
}

/** `{port}-{capsule id}.{baseDomain}` → [id, port], else null. */
export function portHost(host: string | undefined, baseDomain: string): [string, string] | null {
  if (!host || !baseDomain) return null
  const name = host.toLowerCase()
  if (!name.endsWith(`.${baseDomain}`)) return null
  const m = /^(\d{1,5})-(sb-[0-9a-f]{8})$/.exec(name.slice(0, -baseDomain.length - 1))
  return m ? [m[2], m[1]] : null
}

/** The key port tokens are signed with: made once, kept in the data directory (0600). */
function tokenKey(dataDir: string): Buffer {
  const file = join(dataDir, 'port-token.key')
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' })
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex')
}

export function createPortOps(ctx: CapsuleContext) {
  let key: Buffer | undefined
  const sign = (id: string, port: number, exp: number) => createHmac('sha256', (key ??= tokenKey(ctx.dataDir))).update(`${id}:${port}:${exp}`).digest('base64url')
  const tokenValid = (id: string, port: number, token: string) => {
    const [exp, sig] = token.split('.')
    return /^\d+$/.test(exp) && Number(exp) * 1000 > ctx.clock.now() && !!sig && safeEqual(sig, sign(id, port, Number(exp)))
  }

  /** The capsule, running, for a caller the access check let through; counts as activity. */
  async function running(row: CapsuleRow, port: number): Promise<{ id: string; port: number }> {
    row = await ctx.requireRunning(row).catch((err: AppError) => {
      throw err.code === 'capsule_paused' ? new AppError(409, 'capsule_paused', `capsule ${row.id} is paused; resume it to open port ${port}`) : err
    })
    if (!ctx.runtime.connectPort || !ctx.runtime.openPort) throw new AppError(501, 'not_supported', 'this runtime cannot open capsule ports')
    ctx.touch(row.id)
    return { id: row.id, port }
  }

  /** Keep-alive connections per capsule port, so a request costs no new relay connection. */
  const agents = new Map<string, Agent>()
  function agent(id: string, port: number): Agent {
    const key = `${id}:${port}`
    let a = agents.get(key)
    if (!a) {
      if (agents.size >= MAX_AGENTS) {
        const [oldest, old] = agents.entries().next().value!
        old.destroy()
        agents.delete(oldest)
      }
      a = new Agent({ keepAlive: true, maxSockets: 256, timeout: IDLE_SOCKET_MS })
      a.createConnection = () => ctx.runtime.openPort!(id, port)
      agents.set(key, a)
    }
    return a
  }

  async function connect(o: { id: string; port: number }): Promise<Socket> {
    return ctx.runtime.connectPort!(o.id, o.port).catch((err: NodeJS.ErrnoException) => {
      throw closedPort(o, err)
    })
  }

  const view = (scope: Scope) => ({
    /** A token that opens `port` of the capsule for `ttlSec` (a link a browser can follow). */
    async mintToken(p: Principal, id: string, port: unknown, ttlSec: unknown = 3600) {
      const row = await ctx.load(p, scope, id, 'write')
      const n = parsePort(port)
      if (typeof ttlSec !== 'number' || !Number.isInteger(ttlSec) || ttlSec < 1 || ttlSec > MAX_TOKEN_TTL_SEC) throw invalid(`ttl_sec must be an integer from 1 to ${MAX_TOKEN_TTL_SEC}`)
      const exp = Math.floor(ctx.clock.now() / 1000) + ttlSec
      return { capsuleId: row.id, port: n, token: `${exp}.${sign(row.id, n, exp)}`, expiresAt: exp * 1000 }
    },

    /**
     * Lets a caller open `port` of capsule `id`: with the capsule's team
     * credentials, a valid token, or none at all for a public port. Other teams'
     * capsules are not found (404), as everywhere. The capsule must be running.
     */
    async open(p: Principal, id: string, port: unknown, token: string | null): Promise<{ id: string; port: number }> {
      const n = parsePort(port)
      if (token !== null && tokenValid(id, n, token)) return running(await ctx.reload(id), n)
      if (p.kind === 'anonymous') {
        const row = await ctx.reload(id).catch(() => null)
        if (row && (JSON.parse(row.public_ports) as number[]).includes(n)) return running(row, n)
        if (token !== null) throw new AppError(401, 'invalid_port_token', 'the port token is invalid or has expired')
        // the same answer whether or not the capsule exists
        throw new AppError(401, 'unauthorized', `port ${n} of capsule ${id.slice(0, 64)} needs the team's credentials or a port token`)
      }
      return running(await ctx.load(p, scope, id, 'write'), n)
    },
  })
  return {
    view,
    /** An HTTP agent to an opened port (keep-alive through the relay). */
    agent,
    /** A raw connection to an opened port, once the relay reached it (WebSockets). */
    connect,
    closedPort,
    /**
     * Once the opened port answers, a function that hands a client connection to
     * it for good, `prefix` (the first request, rewritten) going first. Rejects
     * as connect() does. (Like a WebSocket, the connection counts as activity when it opens.)
     */
    async joiner(o: { id: string; port: number }): Promise<(client: Socket, prefix: Buffer) => void> {
      if (!ctx.runtime.splicePort) return joinSockets.bind(null, await connect(o))
      return ctx.runtime.splicePort(o.id, o.port).catch((err: NodeJS.ErrnoException) => {
        throw closedPort(o, err)
      })
    },
  }
}

/** The error for a port whose relay answered ERR or hung up before any response. */
export function closedPort(o: { id: string; port: number }, err: NodeJS.ErrnoException): AppError {
  return new AppError(502, 'port_closed', `nothing is listening on port ${o.port} in capsule ${o.id}${err.code === 'ECONNREFUSED' || err.code === 'HPE_INVALID_CONSTANT' ? '' : ` (${err.message})`}`)
}
