/**
 * PTY sessions that outlive their WebSocket: the terminal keeps running when a
 * client disconnects, keeps its recent output, and a client that connects again
 * by tag gets that output replayed before the live stream.
 */
import type { PtyHandle } from './runtime/types.ts'

export type PtyClient = { output: (data: Buffer) => void; exit: (code: number) => void }

export type PtySession = {
  readonly tag: string
  readonly capsuleId: string
  readonly pid: number
  readonly handle: PtyHandle
  /** Terminal input; counts as activity for the capsule's idle timeout. */
  write(data: Uint8Array): void
  /** Attaches a client: replays recent output to it, then streams. Returns detach. */
  attach(client: PtyClient): () => void
  /**
   * Flow control: while any attached client holds the session (its socket has
   * too much output unread), the terminal's output is not read, so the program
   * blocks as it would on a slow terminal; release() lets it go on.
   */
  hold(client: PtyClient): void
  release(client: PtyClient): void
  readonly clients: number
}

/** The last `cap` bytes of output, as a list of chunks (no copy per write). */
function replayBuffer(cap: number) {
  let chunks: Buffer[] = []
  let size = 0
  return {
    push(b: Buffer) {
      if (cap === 0) return
      chunks.push(b)
      size += b.length
      while (size > cap && chunks.length) {
        const over = size - cap
        if (chunks[0].length <= over) size -= chunks.shift()!.length
        else {
          chunks[0] = chunks[0].subarray(over)
          size -= over
        }
      }
    },
    read: () => (chunks.length ? Buffer.concat(chunks) : Buffer.alloc(0)),
    clear() {
      chunks = []
      size = 0
    },
  }
}

export function createPtySessions(opts: { replayBytes: number; onInput: (capsuleId: string) => void }) {
  const sessions = new Map<string, PtySession>()

  return {
    /** Registers a started terminal under `tag`; the session ends when its process exits. */
    add(capsuleId: string, tag: string, handle: PtyHandle): PtySession {
      const replay = replayBuffer(opts.replayBytes)
      const clients = new Set<PtyClient>()
      const holding = new Set<PtyClient>()
      let exitCode: number | null = null
      const release = (client: PtyClient) => {
        if (holding.delete(client) && holding.size === 0) handle.resume?.()
      }
      handle.onData((d) => {
        replay.push(d)
        for (const c of clients) c.output(d)
      })
      const s: PtySession = {
        tag,
        capsuleId,
        pid: handle.pid,
        handle,
        write(data) {
          opts.onInput(capsuleId)
          handle.write(data)
        },
        attach(client) {
          if (exitCode !== null) {
            // it ended between its start and this attach: the client still gets all it said and its exit
            const past = replay.read()
            if (past.length) client.output(past)
            client.exit(exitCode)
            return () => {}
          }
          clients.add(client) // first, so a replay that fills the client's socket can hold the session
          const past = replay.read()
          if (past.length) client.output(past)
          return () => {
            clients.delete(client)
            release(client)
          }
        },
        hold(client) {
          if (!clients.has(client) || holding.has(client)) return
          holding.add(client)
          if (holding.size === 1) handle.pause?.()
        },
        release,
        get clients() {
          return clients.size
        },
      }
      sessions.set(tag, s)
      handle.exited.then(
        (code) => {
          exitCode = code
          sessions.delete(tag)
          for (const c of clients) c.exit(code)
          clients.clear()
          holding.clear()
        },
        () => sessions.delete(tag),
      )
      return s
    },

    get(capsuleId: string, tag: string): PtySession | null {
      const s = sessions.get(tag)
      return s && s.capsuleId === capsuleId ? s : null
    },

    has: (tag: string) => sessions.has(tag),

    /** Ends every terminal of a capsule (it is being destroyed). */
    closeCapsule(capsuleId: string) {
      for (const s of sessions.values()) {
        if (s.capsuleId !== capsuleId) continue
        sessions.delete(s.tag)
        try {
          s.handle.kill('SIGKILL')
        } catch {
          // already gone with the capsule
        }
      }
    },

    get size() {
      return sessions.size
    },
  }
}
export type PtySessions = ReturnType<typeof createPtySessions>
