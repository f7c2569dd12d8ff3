/**
 * Sandbox credentials derived from one server key (a file outside the database,
 * created 0600 on first use), so the database holds none of them:
 * - the proxy token a sandbox's agent sends to /proxy/anthropic as x-api-key,
 *   `nbx-{sandboxId}.{hmac}`: the id says which sandbox, the HMAC proves it;
 * - the service credential nestbox injects toward opencode (Basic) or openclaw (Bearer).
 */
import { createHmac } from 'node:crypto'
import { loadKeyFile, safeEqual } from '../core/secrets.ts'

const PREFIX = 'nbx-'

export function createSandboxTokens(keyFile: string) {
  let key: Buffer | undefined
  const mac = (purpose: string, id: string) => createHmac('sha256', (key ??= loadKeyFile(keyFile))).update(`${purpose}\0${id}`).digest('base64url')
  return {
    proxyToken: (sandboxId: string) => `${PREFIX}${sandboxId}.${mac('proxy', sandboxId)}`,
    /** The sandbox id a proxy token names when its HMAC is right, else null (constant-time compare). */
    proxyTokenSandbox(token: string): string | null {
      if (!token.startsWith(PREFIX)) return null
      const dot = token.lastIndexOf('.')
      if (dot < 0) return null
      const id = token.slice(PREFIX.length, dot)
      return id && safeEqual(token.slice(dot + 1), mac('proxy', id)) ? id : null
    },
    serviceToken: (sandboxId: string) => mac('service', sandboxId),
    /** A MAC of `payload` for `purpose` (subdomain entry tokens and cookies). */
    sign: (purpose: string, payload: string) => mac(purpose, payload),
    verify: (purpose: string, payload: string, sig: string) => safeEqual(sig, mac(purpose, payload)),
  }
}
export type SandboxTokens = ReturnType<typeof createSandboxTokens>

export const isProxyTokenShaped = (token: string) => token.startsWith(PREFIX)
