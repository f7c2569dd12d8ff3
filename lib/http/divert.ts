/** Lets a Divert see each connection a Node HTTP server accepts before the server itself does. */
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/** Decides where an accepted connection goes; `serve` hands it (or a stream in its place) to the HTTP server. */
export type Divert = (socket: Socket, serve: (s: Duplex) => void) => void

/** Call before adding other 'connection' listeners: those still see every accepted socket. */
export function divertConnections(server: Server, divert: Divert): void {
  // Node's HTTP server takes connections through its own 'connection' listener, which may be given any stream (documented for emit('connection'))
  const own = server.listeners('connection') as Array<(s: Duplex) => void>
  server.removeAllListeners('connection')
  server.on('connection', (socket: Socket) => divert(socket, (s) => own.forEach((l) => l.call(server, s))))
}
