/**
 * Opening a TCP port inside a capsule from outside (issue 10, port exposure):
 * who may (the capsule's team, a holder of a short-lived port token, anyone for
 * a port in public_ports), and the connection itself, through the runtime's
 * ports relay, so no host port is ever opened per capsule.
 */
import type { Socket } from 'node:net'
import { createHmac, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AppError, invalid } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import { safeEqual } from '../core/secrets.ts'
import type { Scope } from './access.ts'
import type { CapsuleContext } from './context.ts'
import type { CapsuleRow } from './tables.ts'

const MAX_TOKEN_TTL_SEC = 7 * 86_400

export function parsePort(v: unknown): number {
  const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) throw invalid('port must be a number from 1 to 65535', 'invalid_port')
  return n
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

  /** Connects to the port of a capsule the access check let through. */
  async function connect(row: CapsuleRow, port: number): Promise<Socket> {
    row = await ctx.requireRunning(row).catch((err: AppError) => {
      throw err.code === 'capsule_paused' ? new AppError(409, 'capsule_paused', `capsule ${row.id} is paused; resume it to open port ${port}`) : err
    })
    ctx.touch(row.id)
    if (!ctx.runtime.connectPort) throw new AppError(501, 'not_supported', 'this runtime cannot open capsule ports')
    return ctx.runtime.connectPort(row.id, port).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') throw new AppError(502, 'port_closed', `nothing is listening on port ${port} in capsule ${row.id}`)
      throw new AppError(502, 'port_unreachable', `port ${port} of capsule ${row.id} did not answer: ${err.message}`)
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
     * A connection to `port` of capsule `id` for a caller with the capsule's
     * team credentials, a valid token, or none at all for a public port. Other
     * teams' capsules are not found (404), as everywhere.
     */
    async open(p: Principal, id: string, port: unknown, token: string | null): Promise<Socket> {
      const n = parsePort(port)
      if (token !== null && tokenValid(id, n, token)) return connect(await ctx.reload(id), n)
      if (p.kind === 'anonymous') {
        const row = await ctx.reload(id).catch(() => null)
        if (row && (JSON.parse(row.public_ports) as number[]).includes(n)) return connect(row, n)
        if (token !== null) throw new AppError(401, 'invalid_port_token', 'the port token is invalid or has expired')
        // the same answer whether or not the capsule exists
        throw new AppError(401, 'unauthorized', `port ${n} of capsule ${id.slice(0, 64)} needs the team's credentials or a port token`)
      }
      return connect(await ctx.load(p, scope, id, 'write'), n)
    },
  })
  return { view }
}
