/**
 * nestbox's API as capsules reach it (network modes nestbox and internet): the
 * same app, served on one unix socket per capsule that the capsule's anchor
 * relays http://nestbox to (lib/capsules/runtime/network.ts). Capsules come back
 * before the app exists (start hooks run first), so requests wait for it.
 */
import type { Logger } from '../core/logger.ts'
import { createNodeServer } from './node-server.ts'
import { createWebSocketServer } from './websocket.ts'

type Fetch = Parameters<typeof createNodeServer>[0]

export function createCapsuleApi(log: Logger) {
  let app: Fetch | null = null
  let ready: () => void
  const appReady = new Promise<void>((r) => (ready = r))
  const fetch: Fetch = async (req, env) => {
    if (!app) await appReady
    return app!(req, env)
  }
  return {
    /** The app to serve, once it is assembled. */
    serve(f: Fetch) {
      app = f
      ready()
    },
    /** Serves the API on `socketPath` for capsule `capsuleId`; resolves to a function that stops it. */
    async listen(capsuleId: string, socketPath: string): Promise<() => void> {
      const wss = createWebSocketServer()
      const server = createNodeServer(fetch, log.child({ capsule: capsuleId }), wss)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(socketPath, () => {
          server.off('error', reject)
          resolve()
        })
      })
      return () => {
        for (const c of wss.clients) c.terminate()
        server.close()
        server.closeAllConnections()
      }
    },
  }
}
export type CapsuleApi = ReturnType<typeof createCapsuleApi>
