/**
 * Where a program's output ends, decided without a timer.
 *
 * A write to a pipe or socket is queued in the kernel by the time write()
 * returns, and the program has exited (so every write of it has returned)
 * before nestbox reaps its parent, nestbox-enter, which waits for it. So when
 * nestbox sees the exit, everything the program, and every descendant it waited
 * for, wrote is already queued: reading the queue until the kernel says it is
 * empty (EAGAIN) or closed (EOF) gives every byte, however slow the machine.
 *
 * EOF: nobody else holds the pipe. EAGAIN: a background descendant still holds
 * it; the answer ends at the program's exit and nestbox stops reading. (docker
 * exec waits up to 2 s after the exit for its streams and then closes them;
 * E2B's envd waits for EOF, so a background child holding the pipe keeps the
 * command open. Reading to the end of the queue needs neither a grace period
 * nor a hang.)
 */
import { readFileSync, readSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { freeNow } from '../../core/buffers.ts'

export type Ending = 'eof' | 'open' | 'unknown'

const sysctl = (path: string, fallback: number) => {
  try {
    return Number(readFileSync(path, 'utf8').trim()) || fallback
  } catch {
    return fallback
  }
}

/**
 * More than a pipe or socket can hold (a socket's send buffer is at most twice
 * wmem_max, a pipe at most pipe-max-size): reading this much without reaching
 * EAGAIN means a descendant is still writing, and what was queued at the exit
 * has been read.
 */
const QUEUE_MAX = Math.max(2 * sysctl('/proc/sys/net/core/wmem_max', 212_992), sysctl('/proc/sys/fs/pipe-max-size', 1 << 20)) + (64 << 10)

/** Under Deno a stream's handle fd is not an OS descriptor nestbox could read. */
const canReadFds = !('Deno' in globalThis)

/**
 * Reads what is queued on a descriptor without blocking and hands it to
 * `deliver`. EIO is how a pty master reports that every slave is closed.
 */
export function drainFd(fd: number, deliver: (chunk: Buffer) => void, max = QUEUE_MAX): Ending {
  if (!canReadFds) return 'unknown'
  const buf = Buffer.allocUnsafe(64 << 10)
  for (let total = 0; total < max; ) {
    let n: number
    try {
      n = readSync(fd, buf, 0, buf.length, null)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return 'open'
      if (code === 'EINTR') continue
      return code === 'EBADF' ? 'unknown' : 'eof'
    }
    if (n === 0) return 'eof'
    deliver(Buffer.from(buf.subarray(0, n)))
    total += n
  }
  return 'open'
}

/**
 * Hands over what a stream of a child process still holds: first what Node
 * read but has not emitted (a paused stream), through the stream's own 'data'
 * listeners, then what is queued in the kernel, to `deliver`, which must be the
 * same sink those listeners feed.
 */
export function drainStream(stream: Readable, deliver: (chunk: Buffer) => void): Ending {
  if (stream.readableEnded || stream.destroyed) return 'eof'
  while (stream.read() !== null);
  const fd = (stream as Readable & { _handle?: { fd?: number } | null })._handle?.fd
  if (typeof fd !== 'number' || fd < 0) return stream.readableEnded ? 'eof' : 'unknown'
  return drainFd(fd, deliver)
}

/**
 * Frees a chunk of output nobody listens to at once (core/buffers.ts): ~50 MiB
 * of them piled up behind one busy background process nobody watched.
 */
export const discard = (chunk: Buffer) => freeNow(chunk)

/** How long to wait for EOF where descriptors cannot be read directly (Deno). */
const FALLBACK_WAIT_MS = 100

/**
 * After the program's exit: delivers everything it left queued on its output
 * streams, then stops reading them (a background descendant may keep them open).
 * Resolves at once under Node.
 */
export async function settleOutput(streams: Array<[Readable, (chunk: Buffer) => void]>): Promise<void> {
  const endings = streams.map(([s, deliver]) => drainStream(s, deliver))
  const unknown = streams.filter((_, i) => endings[i] === 'unknown').map(([s]) => s)
  if (unknown.length) {
    await Promise.race([
      Promise.all(unknown.map((s) => new Promise((res) => (s.readableEnded ? res(null) : s.once('end', res).once('close', res))))),
      new Promise((res) => setTimeout(res, FALLBACK_WAIT_MS).unref()),
    ])
  }
  for (const [s] of streams) s.destroy()
}

/**
 * node-pty destroys its socket 200 ms after the program's exit if it has not
 * read the pty's end by then, which is the case while output is paused for a
 * slow reader: what the terminal still held would be dropped before the exit
 * is announced. Just before that destroy, what is buffered and queued is read
 * and delivered. `_socket` and `fd` are node-pty 1.1's own; without them
 * nothing changes.
 */
export function readTailBeforeDestroy(term: object, deliver: (b: Buffer) => void) {
  const socket = (term as unknown as { _socket?: Readable })._socket
  const fd = (term as unknown as { fd?: number }).fd
  if (!socket || typeof fd !== 'number') return
  const destroy = socket.destroy.bind(socket)
  socket.destroy = (err?: Error) => {
    if (!socket.destroyed) {
      while (socket.read() !== null); // emits 'data': node-pty passes it on to deliver
      drainFd(fd, deliver)
    }
    return destroy(err)
  }
}
