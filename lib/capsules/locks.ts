/** Per-key async mutex: state changes of one capsule (create, pause, resume, snapshot, destroy) never interleave. */
export function createKeyedLock() {
  const tails = new Map<string, Promise<void>>()
  return async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((r) => (release = r))
    const tail = prev.then(() => mine)
    tails.set(key, tail)
    await prev
    try {
      return await fn()
    } finally {
      release()
      if (tails.get(key) === tail) tails.delete(key)
    }
  }
}
