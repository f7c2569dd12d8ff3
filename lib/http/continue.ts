/**
 * `Expect: 100-continue`, answered when a route first reads the body rather than
 * by Node up front. A client that asks waits before sending the body, so until
 * then none of it has reached Node's parser: a route may refuse without the
 * upload being sent (as S3 does), or take the body straight off the connection
 * (takeBody: storage hands it to its receive addon).
 *
 * Only large PUTs with a Content-Length are deferred; every other request that
 * asks gets its 100 Continue at once, as Node gives it. A deferred request gets
 * it as soon as anything reads it (a 'data' or 'readable' listener, resume()),
 * so routes that know nothing of this behave as before. A response to a deferred
 * request whose body was never read, or was taken, closes the connection: what
 * follows on it is not a request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { socketFd } from '../core/native.ts'

/** Bodies at least this large are worth taking off the connection. */
export const DEFER_MIN_BYTES = 8 * 1024 * 1024

const STATE = Symbol.for('nestbox.continue')
type State = { res: ServerResponse; sent: boolean; taken: boolean }
type Tagged = IncomingMessage & { [STATE]?: State }

const stateOf = (req: IncomingMessage | undefined): State | undefined => (req as Tagged | undefined)?.[STATE]

function sendContinue(s: State) {
  if (s.sent || s.taken || s.res.headersSent || s.res.writableEnded) return
  s.sent = true
  s.res.writeContinue()
}

/** The server's 'checkContinue' listener: defers large PUTs, continues everything else, then hands on to `listener`. */
export function onCheckContinue(listener: (req: IncomingMessage, res: ServerResponse) => unknown) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const length = Number(req.headers['content-length'])
    if (req.method !== 'PUT' || !(length >= DEFER_MIN_BYTES) || req.headers['transfer-encoding'] !== undefined) {
      res.writeContinue()
      return listener(req, res)
    }
    const s: State = { res, sent: false, taken: false }
    ;(req as Tagged)[STATE] = s
    req.on('newListener', (event) => (event === 'data' || event === 'readable') && sendContinue(s))
    req.once('resume', () => sendContinue(s))
    return listener(req, res)
  }
}

/** True when the response must close the connection (the body of the request was not read, or was taken). */
export function closesConnection(req: IncomingMessage | undefined): boolean {
  const s = stateOf(req)
  return !!s && (s.taken || !s.sent)
}

/**
 * The descriptor of the connection of a deferred request whose body nobody has
 * read yet, for the caller to read its Content-Length bytes from itself: Node
 * stops reading it and the client is told to send. Undefined when the request
 * was not deferred, its body is already flowing, or the socket shows no
 * descriptor (not Node).
 */
export function takeBody(req: IncomingMessage): number | undefined {
  const s = stateOf(req)
  const fd = socketFd(req.socket)
  if (!s || s.sent || s.taken || s.res.headersSent || fd === null) return undefined
  req.socket.pause()
  s.taken = true
  s.res.writeContinue()
  return fd
}
