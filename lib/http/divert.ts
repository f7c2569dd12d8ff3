/** Lets a Divert see each connection a Node HTTP server accepts before the server itself does. */
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/** Decides where an accepted connection goes; `serve` hands it (or a stream in its place) to the HTTP server. */
export type Divert = (socket: Socket, serve: (s: Duplex) => void) => void

/**
 * Call before adding other 'connection' listeners: those still see every
 * accepted socket. Returns closeIdle(), which ends the connections the divert
 * still holds (nothing sent yet: as idle as a kept-alive one), for shutdown.
 */
export function divertConnections(server: Server, divert: Divert): { closeIdle: () => void } {
  // Node's HTTP server takes connections through its own 'connection' listener, which may be given any stream (documented for emit('connection'))
  const own = server.listeners('connection') as Array<(s: Duplex) => void>
  server.removeAllListeners('connection')
  const held = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    held.add(socket)
    socket.once('close', () => held.delete(socket))
    divert(socket, (s) => {
      held.delete(socket)
      for (const l of own) l.call(server, s)
    })
  })
  return {
    closeIdle: () => {
      for (const s of held) s.destroy()
    },
  }
}
