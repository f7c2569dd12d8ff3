/**
 * Writes off the request path, in batches: items wait until `max` are queued or
 * `delayMs` passed since the first, then go to `write` together; batches are
 * written one at a time, in order. flush() writes what waits now (at stop).
 * A failed batch goes to `onError` and the ones after it are still written.
 */
export function createBatcher<T>(o: { max: number; delayMs: number; write: (batch: T[]) => Promise<void>; onError: (err: unknown, batch: T[]) => void }) {
  let queue: T[] = []
  let timer: NodeJS.Timeout | undefined
  let writing: Promise<void> = Promise.resolve()

  const flush = (): Promise<void> => {
    clearTimeout(timer)
    timer = undefined
    if (queue.length) {
      const batch = queue
      queue = []
      writing = writing.then(() => o.write(batch)).catch((err) => o.onError(err, batch))
    }
    return writing
  }

  return {
    add(item: T) {
      queue.push(item)
      if (queue.length >= o.max) void flush()
      else timer ??= setTimeout(flush, o.delayMs).unref()
    },
    flush,
    /** Runs `fn` once everything added so far is written, before anything added later; it must not reject. */
    after(fn: () => Promise<void>): Promise<void> {
      void flush()
      writing = writing.then(fn)
      return writing
    },
    pending: () => queue.length,
  }
}
