/**
 * Large upload bodies taken off nestbox's hands: `nestbox-receive`
 * (nestbox-receive.c), a child nestbox starts once, takes the connection's and
 * the object file's descriptors by number (pidfd_getfd), writes the body into
 * the file and answers with its MD5 (and SHA-256). Where descriptors cannot be
 * taken (no CAP_SYS_PTRACE over nestbox, an old kernel, a runtime whose sockets
 * show none) available() says so and uploads stream through Node as before.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { createInterface } from 'node:readline'
import type { Logger } from '../../core/logger.ts'

export const RECEIVE_SOURCE = 'lib/storage/bytes/nestbox-receive.c'

/** Seconds a body may stall before the take fails (the client's connection is then closed). */
const IDLE_SEC = 120

export type Receiver = {
  /** Resolves true once a probe passed (asked once). */
  available(): Promise<boolean>
  /**
   * Moves `length` bytes from the connection `socketFd` into the empty file
   * `fileFd` and resolves with their MD5 (and SHA-256, hex, when asked). Rejects
   * with the helper's reason when the body ends early, stalls or cannot be
   * written, and stops the helper's work at once when `signal` aborts.
   */
  take(socketFd: number, fileFd: number, length: number, o: { sha256: boolean; signal?: AbortSignal }): Promise<{ md5: Buffer; sha256?: string }>
  close(): void
}

export function createReceiver(binary: () => string, log: Logger): Receiver {
  let child: ChildProcess | null = null
  let seq = 0
  const waiting = new Map<number, (line: string) => void>()
  let ready: Promise<boolean> | undefined

  function start(): ChildProcess {
    const c = spawn(binary(), [], { stdio: ['pipe', 'pipe', 'inherit'], env: {} })
    c.on('error', (err) => log.warn('nestbox-receive failed', { err }))
    c.on('exit', () => {
      if (child === c) child = null
      const lost = [...waiting.values()]
      waiting.clear()
      for (const done of lost) done('err nestbox-receive exited')
    })
    c.stdin!.on('error', () => {})
    createInterface({ input: c.stdout! }).on('line', (line) => {
      const m = /^(\d+) (.*)$/.exec(line)
      if (m) waiting.get(Number(m[1]))?.(m[2])
    })
    c.unref()
    ;(c.stdout as Socket & { unref(): void }).unref()
    return c
  }

  /** Sends one request; `onAnswer` gets its answer line (without the number). */
  function ask(request: string, onAnswer: (line: string) => void): number {
    const c = (child ??= start())
    const n = ++seq
    waiting.set(n, (line) => (waiting.delete(n), onAnswer(line)))
    c.stdin!.write(`${n} ${request}\n`)
    return n
  }

  return {
    available() {
      return (ready ??= (async () => {
        try {
          const c = (child ??= start())
          const fd = (c.stdin as unknown as { _handle?: { fd?: number } })._handle?.fd
          if (typeof fd !== 'number') return false
          const answer = await new Promise<string>((resolve) => ask(`probe ${fd}`, resolve))
          if (answer !== 'ok') log.info('large uploads stream through nestbox', { reason: `nestbox-receive cannot take descriptors: ${answer.replace(/^err /, '')}` })
          return answer === 'ok'
        } catch (err) {
          log.info('large uploads stream through nestbox', { reason: `nestbox-receive is not available: ${(err as Error).message}` })
          return false
        }
      })())
    },
    take(socketFd, fileFd, length, { sha256, signal }) {
      return new Promise((resolve, reject) => {
        signal?.throwIfAborted()
        const n = ask(`take ${socketFd} ${fileFd} ${length} ${IDLE_SEC} ${sha256 ? 1 : 0}`, (line) => {
          signal?.removeEventListener('abort', abort)
          const done = /^done ([0-9a-f]{32}) ([0-9a-f]{64}|-)$/.exec(line)
          if (done) resolve({ md5: Buffer.from(done[1], 'hex'), sha256: done[2] === '-' ? undefined : done[2] })
          else reject(new Error(line.replace(/^err /, '')))
        })
        function abort() {
          waiting.delete(n)
          child?.stdin!.write(`${++seq} abort ${n}\n`)
          reject(signal!.reason)
        }
        signal?.addEventListener('abort', abort, { once: true })
      })
    },
    close() {
      child?.kill()
      child = null
    },
  }
}
