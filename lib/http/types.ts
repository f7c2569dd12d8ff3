import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from '../core/logger.ts'
import type { Principal } from '../core/principal.ts'

/** Set by server.ts when the request arrived as an HTTP upgrade (WebSocket). */
export type UpgradeContext = { socket: Duplex; head: Buffer; accepted: boolean }

export type Bindings = {
  incoming: IncomingMessage
  outgoing?: ServerResponse
  upgrade?: UpgradeContext
}

export type Variables = {
  requestId: string
  log: Logger
  principal: Principal
}

/** The Hono environment every surface shares. */
export type AppEnv = { Bindings: Bindings; Variables: Variables }
