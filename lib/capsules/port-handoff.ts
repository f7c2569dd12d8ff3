/**
 * A host-routed client connection handed to a capsule's port for good
 * (port-splice.ts): `prefix` (the first request's head as the app gets it, and
 * what the client sent after it) goes first, then the bytes of both directions
 * as they come. A half-close is passed on; either side closing ends both.
 */
import type { Socket } from 'node:net'

export function spliceSockets(up: Socket, client: Socket, prefix: Buffer): void {
  client.setNoDelay(true)
  up.write(prefix)
  up.pipe(client)
  client.pipe(up)
  const end = () => (up.destroy(), client.destroy())
  up.on('error', end).on('close', end)
  client.on('error', end).on('close', end)
  client.resume()
}
