/**
 * Large upload bodies taken off nestbox's event loop: nestbox_receive.node
 * (receive.c), an addon of nestbox's own, receives the body on threads of its
 * own, writes it into the object file and answers with its MD5 (and SHA-256).
 * Where the addon cannot load (a runtime without Node's addon API, a checkout
 * where it was not built) available() says so and uploads stream through Node
 * as before.
 */
import type { Logger } from '../../core/logger.ts'

export const RECEIVE_ADDON = 'nestbox_receive.node'
export const RECEIVE_SOURCE = 'lib/storage/bytes/receive.c'

/** Seconds a body may stall before the take fails (the client's connection is then closed). */
const IDLE_SEC = 120

type Addon = {
  take(socketFd: number, fileFd: number, length: number, sha256: boolean, idleSec: number): [number, Promise<[string, string | null]>]
  cancel(id: number): void
}

export type Receiver = {
  /** True when the addon is loaded (tried once). */
  available(): boolean
  /**
   * Moves `length` bytes from the connection `socketFd` into the empty file
   * `fileFd` and resolves with their MD5 (and SHA-256, hex, when asked). Rejects
   * with the reason when the body ends early, stalls or cannot be written, and
   * stops at once when `signal` aborts. Both descriptors are duplicated: the
   * caller may close its own meanwhile.
   */
  take(socketFd: number, fileFd: number, length: number, o: { sha256: boolean; signal?: AbortSignal }): Promise<{ md5: Buffer; sha256?: string }>
}

export function createReceiver(load: () => unknown, log: Logger): Receiver {
  let addon: Addon | null | undefined
  const get = (): Addon | null => {
    if (addon !== undefined) return addon
    try {
      addon = load() as Addon
    } catch (err) {
      log.info('large uploads stream through nestbox', { reason: `${RECEIVE_ADDON} is not available: ${(err as Error).message}` })
      addon = null
    }
    return addon
  }
  return {
    available: () => get() !== null,
    async take(socketFd, fileFd, length, { sha256, signal }) {
      signal?.throwIfAborted()
      const a = get()!
      const [id, done] = a.take(socketFd, fileFd, length, sha256, IDLE_SEC)
      const abort = () => a.cancel(id)
      signal?.addEventListener('abort', abort, { once: true })
      try {
        const [md5, sha] = await done
        return { md5: Buffer.from(md5, 'hex'), sha256: sha ?? undefined }
      } catch (err) {
        throw signal?.aborted ? signal.reason : err
      } finally {
        signal?.removeEventListener('abort', abort)
      }
    },
  }
}
