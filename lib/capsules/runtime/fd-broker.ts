/**
 * Hands client connections to a capsule's ports relay, so that the relay joins
 * client and app itself and nestbox carries none of the bytes. Node cannot send
 * a descriptor over a unix socket, so a child does it: `nestbox-enter
 * --fd-broker` (relay.c) takes nestbox's descriptors by number with
 * pidfd_getfd(2) and sends them on. Where that is refused (no CAP_SYS_PTRACE
 * over nestbox, an old kernel, a runtime whose sockets show no descriptor),
 * available() says so and nestbox carries the bytes itself.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { createInterface } from 'node:readline'
import type { Logger } from '../../core/logger.ts'
import { socketFd } from '../../core/native.ts'

export type FdBroker = {
  /** Resolves true once a probe passed (asked once). */
  available(): Promise<boolean>
  /**
   * Sends `client` over `conn` (a "PORT fd" relay connection that answered OK),
   * then `prefix` and whatever nestbox read of `client` meanwhile, for the app
   * before anything else of the client. nestbox lets go of both.
   */
  pass(client: Socket, conn: Socket, prefix: Buffer): Promise<void>
  close(): void
}

export function createFdBroker(enterPath: string, log: Logger): FdBroker {
  let child: ChildProcess | null = null
  let seq = 0
  const waiting = new Map<number, (err: string | null) => void>()
  let ready: Promise<boolean> | undefined

  function start(): ChildProcess {
    const c = spawn(enterPath, ['--fd-broker'], { stdio: ['pipe', 'pipe', 'inherit'], env: {} })
    c.on('error', (err) => log.warn('fd broker failed', { err }))
    c.on('exit', () => {
      child = null
      for (const done of waiting.values()) done('the fd broker exited')
      waiting.clear()
    })
    c.stdin!.on('error', () => {})
    createInterface({ input: c.stdout! }).on('line', (line) => {
      const m = /^(\d+) (ok|err (.*))$/.exec(line)
      const done = m && waiting.get(Number(m[1]))
      if (!done) return
      waiting.delete(Number(m[1]))
      done(m[2] === 'ok' ? null : m[3])
    })
    c.unref()
    ;(c.stdout as Socket & { unref(): void }).unref()
    return c
  }

  function ask(line: string): Promise<string | null> {
    const c = (child ??= start())
    const n = ++seq
    return new Promise((resolve) => {
      waiting.set(n, resolve)
      c.stdin!.write(`${n} ${line}\n`)
    })
  }

  return {
    available() {
      return (ready ??= (async () => {
        const c = (child ??= start())
        const fd = socketFd(c.stdin)
        if (fd === null) return false
        const err = await ask(`probe ${fd}`)
        if (err) log.info('capsule ports: connections are carried by nestbox', { reason: `the fd broker cannot take descriptors: ${err}` })
        return !err
      })())
    },
    async pass(client, conn, prefix) {
      // either may break while the broker works: the relay (or its client) then sees the end
      client.on('error', () => client.destroy())
      conn.on('error', () => conn.destroy())
      const a = socketFd(client)
      const b = socketFd(conn)
      const err = a === null || b === null ? 'no descriptor' : await ask(`pass ${a} ${b}`)
      if (err) {
        client.destroy()
        conn.destroy()
        throw new Error(`passing a connection to a capsule port failed: ${err}`)
      }
      // Node may have read more of the client while the broker worked: that goes first, in order. In the
      // same tick the handle closes (close, never end(): a shutdown would reach the connection the relay now has).
      const read: Buffer[] = [prefix]
      for (let d = client.read() as Buffer | null; d; d = client.read() as Buffer | null) read.push(d)
      client.destroy()
      const bytes = Buffer.concat(read)
      conn.end(Buffer.concat([Buffer.from(`${bytes.length}\n`), bytes]))
    },
    close() {
      child?.kill()
      child = null
    },
  }
}
