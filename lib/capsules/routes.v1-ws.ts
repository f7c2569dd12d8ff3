/**
 * Wrenn WebSocket endpoints (frames per seed 003 and shared/seeds/INDEX.md):
 * exec stream, process output stream and PTY. Access and state are checked
 * before the upgrade, so refusals are plain HTTP statuses with a Wrenn error body.
 *
 * Output to a client that reads slower than the program writes is bounded
 * (ws-outbox.ts): the exec stream and the PTY stop reading the program's output
 * until the client catches up (the program blocks, as on a slow terminal); a
 * process-stream viewer, who must not stall a process others own, is closed
 * with code 1008 instead.
 */
import { Hono } from 'hono'
import { StringDecoder } from 'node:string_decoder'
import type { WebSocket } from 'ws'
import { invalid, isAppError } from '../core/errors.ts'
import type { AppEnv } from '../http/types.ts'
import { acceptWebSocket } from '../http/websocket.ts'
import { SLOW_READER_CLOSE, wsOutbox, type Outbox } from '../http/ws-outbox.ts'
import { parseExec, releaseGate } from './processes.ts'
import type { PtyClient, PtySession } from './pty-session.ts'
import type { ProcessHandle } from './runtime/types.ts'
import type { CapsuleView } from './service.ts'

const PING_EVERY_MS = 30_000
/** A socket that never says what it wants is closed. */
const FIRST_MESSAGE_MS = 60_000

function closeUnlessStarted(ws: WebSocket, started: () => boolean, send: (m: Record<string, unknown>) => void) {
  const t = setTimeout(() => {
    if (started()) return
    send({ type: 'error', data: `no start message within ${FIRST_MESSAGE_MS / 1000} s`, fatal: true })
    ws.close(1000)
  }, FIRST_MESSAGE_MS)
  t.unref()
  ws.on('close', () => clearTimeout(t))
}
/** After {"type":"stop"}, SIGTERM; then SIGKILL if it is still there. */
const STOP_GRACE_MS = 2_000
/** Unread output past which the exec stream and the PTY stop reading the program. */
const PAUSE_AT = 1 << 20
/** Unread output past which a process-stream viewer is closed. */
const VIEWER_MAX = 4 << 20

const sender = (out: Outbox) => (msg: Record<string, unknown>) => out.send(JSON.stringify(msg))
const messageOf = (err: unknown) => (isAppError(err) ? err.message : 'internal error')

/**
 * Forwards a process's stdout/stderr as text frames. Returns `end`, which
 * unsubscribes and sends what the UTF-8 decoders still hold (a character cut
 * at the last chunk's end), so nothing is left behind before the exit frame.
 */
function follow(h: ProcessHandle, send: (m: Record<string, unknown>) => void) {
  const out = new StringDecoder('utf8')
  const err = new StringDecoder('utf8')
  const offs = [h.onStdout((b) => send({ type: 'stdout', data: out.write(b) })), h.onStderr((b) => send({ type: 'stderr', data: err.write(b) }))]
  let ended = false
  return (flush: boolean) => {
    if (ended) return
    ended = true
    offs.forEach((off) => off())
    if (!flush) return
    const o = out.end()
    const e = err.end()
    if (o) send({ type: 'stdout', data: o })
    if (e) send({ type: 'stderr', data: e })
  }
}

function parse(data: unknown): Record<string, unknown> | null {
  try {
    const m = JSON.parse(String(data))
    return m && typeof m === 'object' && !Array.isArray(m) ? m : null
  } catch {
    return null
  }
}

export function capsuleSocketRoutesV1(v: CapsuleView) {
  const r = new Hono<AppEnv>()

  r.get('/:id/exec/stream', async (c) => {
    const p = c.var.principal
    const id = c.req.param('id')
    await v.processes.assertExecutable(p, id)
    return acceptWebSocket(c, (ws) => {
      let h: ProcessHandle | null = null
      const send = sender(wsOutbox(ws, { high: PAUSE_AT, onFull: () => h?.pause?.(), onDrain: () => h?.resume?.() }))
      let exited = false
      let starting = false
      closeUnlessStarted(ws, () => starting, send)
      ws.on('message', async (data, isBinary) => {
        const m = isBinary ? null : parse(data)
        if (!m) return send({ type: 'error', data: 'messages must be JSON objects' })
        if (m.type === 'start' && !h && !starting) {
          starting = true
          try {
            const input = parseExec({ cmd: m.cmd, args: m.args, envs: m.envs, cwd: m.cwd })
            h = await v.processes.spawn(p, id, { ...input, tag: null }, { gated: true })
          } catch (err) {
            send({ type: 'error', data: messageOf(err) })
            return ws.close(1000)
          }
          send({ type: 'start', pid: h.pid })
          const end = follow(h, send)
          releaseGate(h)
          h.exited.then((code) => {
            exited = true
            end(true)
            send({ type: 'exit', exit_code: code })
            ws.close(1000)
          })
        } else if (m.type === 'stop' && h) {
          const proc = h
          proc.kill('SIGTERM')
          setTimeout(() => !exited && proc.kill('SIGKILL'), STOP_GRACE_MS).unref()
        } else send({ type: 'error', data: h || starting ? `unexpected message type "${String(m.type)}"` : 'the first message must be {"type":"start","cmd":...}' })
      })
      ws.on('close', () => {
        if (h && !exited) h.kill('SIGKILL') // the stream owned the process
      })
    })
  })

  r.get('/:id/processes/:selector/stream', async (c) => {
    const h = await v.processes.process(c.var.principal, c.req.param('id'), c.req.param('selector'))
    return acceptWebSocket(c, (ws) => {
      let end = (_flush: boolean) => {}
      const tooSlow = () => {
        end(false)
        ws.close(SLOW_READER_CLOSE, `more than ${VIEWER_MAX >> 20} MiB of output unread`)
      }
      const send = sender(wsOutbox(ws, { high: VIEWER_MAX, onFull: tooSlow }))
      send({ type: 'start', pid: h.pid })
      end = follow(h, send)
      h.exited.then((code) => {
        end(true)
        send({ type: 'exit', exit_code: code })
        ws.close(1000)
      })
      ws.on('close', () => end(false))
    })
  })

  r.get('/:id/pty', async (c) => {
    const p = c.var.principal
    const id = c.req.param('id')
    await v.assertRunning(p, id, 'write')
    // compat(wrenn): output is {"type":"output","data":<base64>} text frames from the
    // first byte, also after a reconnect (seed 003). Raw binary frames are opt-in:
    // ?frames=binary, or a client whose first input is a binary frame.
    const frames = c.req.query('frames')
    if (frames !== undefined && frames !== 'json' && frames !== 'binary') throw invalid('frames must be json or binary')
    let framing: 'json' | 'binary' | null = frames ?? null
    return acceptWebSocket(c, (ws) => {
      let session: PtySession | null = null
      let detach: (() => void) | null = null
      const out = wsOutbox(ws, { high: PAUSE_AT, onFull: () => session?.hold(client), onDrain: () => session?.release(client) })
      const send = sender(out)
      const client: PtyClient = {
        output: (d) => {
          if (framing === 'binary') out.send(d)
          else send({ type: 'output', data: d.toString('base64') })
        },
        exit: (code) => {
          send({ type: 'exit', exit_code: code })
          ws.close(1000)
        },
      }
      const fatal = (msg: string) => {
        send({ type: 'error', data: msg, fatal: true })
        ws.close(1000)
      }
      const pinger = setInterval(() => send({ type: 'ping' }), PING_EVERY_MS)
      pinger.unref()
      let asked = false
      closeUnlessStarted(ws, () => asked, send)

      const handle = async (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          if (!session) return fatal('start or connect to a terminal first')
          framing ??= 'binary'
          return session.write(data)
        }
        const m = parse(data)
        if (!m) return send({ type: 'error', data: 'text messages must be JSON objects', fatal: false })
        if (!session) {
          asked = true
          try {
            if (m.type === 'start') session = await v.startPty(p, id, m)
            else if (m.type === 'connect') {
              session = await v.findPty(p, id, m.tag)
              if (!session) return fatal(`no terminal session tagged "${String(m.tag).slice(0, 64)}" in capsule ${id}`)
            } else return fatal('the first message must be {"type":"start"} or {"type":"connect","tag":...}')
          } catch (err) {
            return fatal(messageOf(err))
          }
          send({ type: 'started', tag: session.tag, pid: session.pid })
          if (ws.readyState === ws.OPEN) detach = session.attach(client)
          return
        }
        switch (m.type) {
          case 'input':
            framing ??= 'json'
            return session.write(Buffer.from(String(m.data ?? ''), 'base64'))
          case 'resize': {
            const { cols, rows } = m
            if (!Number.isInteger(cols) || !Number.isInteger(rows) || (cols as number) < 1 || (rows as number) < 1 || (cols as number) > 1000 || (rows as number) > 1000)
              return send({ type: 'error', data: 'resize needs integer cols and rows between 1 and 1000', fatal: false })
            return session.handle.resize(cols as number, rows as number)
          }
          case 'kill':
            return session.handle.kill('SIGKILL')
          case 'ping':
          case 'pong':
            return
          default:
            return send({ type: 'error', data: `unknown message type "${String(m.type).slice(0, 32)}"`, fatal: false })
        }
      }
      // Messages are handled in order: input sent right after "start" waits for the terminal.
      let chain = Promise.resolve()
      ws.on('message', (data, isBinary) => {
        chain = chain.then(() => handle(data as Buffer, isBinary)).catch(() => {})
      })
      ws.on('close', () => {
        clearInterval(pinger)
        detach?.() // the terminal keeps running; reconnect with {"type":"connect","tag"}
      })
    })
  })
  return r
}
