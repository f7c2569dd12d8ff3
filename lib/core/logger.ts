/** One JSON line per event on stderr. Never pass secrets in fields. */
export type Level = 'debug' | 'info' | 'warn' | 'error'
export type Logger = {
  debug: (msg: string, fields?: Record<string, unknown>) => void
  info: (msg: string, fields?: Record<string, unknown>) => void
  warn: (msg: string, fields?: Record<string, unknown>) => void
  error: (msg: string, fields?: Record<string, unknown>) => void
  child: (fields: Record<string, unknown>) => Logger
  /**
   * An info line whose fields are already a JSON object body (`"a":1,"b":"x"`).
   * For the per-request access log, where building and stringifying an object
   * per request is most of the logging cost.
   */
  infoFields: (msg: string, fieldsJson: string) => void
}

const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

let pending: string[] = []
let flushScheduled = false
let exitHooked = false
function flushStderr(): void {
  flushScheduled = false
  if (!pending.length) return
  const text = pending.join('')
  pending = []
  process.stderr.write(text)
}

/**
 * Lines logged during one event-loop turn leave in one write (under load, one
 * syscall for many requests instead of one each). stderr is synchronous for files
 * and pipes on Linux, so the flush at exit loses nothing.
 */
function writeStderr(line: string): void {
  pending.push(line)
  if (flushScheduled) return
  flushScheduled = true
  setImmediate(flushStderr)
  if (!exitHooked) {
    exitHooked = true
    process.on('exit', flushStderr)
  }
}

let lastMs = 0
let lastIso = ''
/** The ISO timestamp, formatted once per millisecond: under load many lines share one. */
function isoNow(): string {
  const ms = Date.now()
  if (ms !== lastMs) {
    lastMs = ms
    lastIso = new Date(ms).toISOString()
  }
  return lastIso
}

/** Methods live on the prototype, so a child logger (one per request) costs one small object. */
class JsonLogger implements Logger {
  readonly #min: number
  readonly #write: (line: string) => void
  readonly #base: Record<string, unknown>
  #baseJson: string | undefined
  constructor(min: number, write: (line: string) => void, base: Record<string, unknown>) {
    this.#min = min
    this.#write = write
    this.#base = base
  }

  debug(msg: string, fields?: Record<string, unknown>) {
    this.#emit('debug', msg, fields)
  }
  info(msg: string, fields?: Record<string, unknown>) {
    this.#emit('info', msg, fields)
  }
  warn(msg: string, fields?: Record<string, unknown>) {
    this.#emit('warn', msg, fields)
  }
  error(msg: string, fields?: Record<string, unknown>) {
    this.#emit('error', msg, fields)
  }
  child(fields: Record<string, unknown>): Logger {
    return new JsonLogger(this.#min, this.#write, { ...this.#base, ...fields })
  }
  infoFields(msg: string, fieldsJson: string) {
    if (rank.info < this.#min) return
    this.#baseJson ??= Object.keys(this.#base).length ? ',' + JSON.stringify(this.#base).slice(1, -1) : ''
    this.#write(`{"time":"${isoNow()}","level":"info","msg":${JSON.stringify(msg)}${this.#baseJson}${fieldsJson ? ',' + fieldsJson : ''}}\n`)
  }

  #emit(level: Level, msg: string, fields?: Record<string, unknown>) {
    if (rank[level] < this.#min) return
    const rec: Record<string, unknown> = { time: isoNow(), level, msg, ...this.#base, ...fields }
    const err = rec.err
    if (err instanceof Error) rec.err = { name: err.name, message: err.message, stack: err.stack }
    this.#write(JSON.stringify(rec) + '\n')
  }
}

export function createLogger(opts: { level?: Level; write?: (line: string) => void; base?: Record<string, unknown> } = {}): Logger {
  return new JsonLogger(rank[opts.level ?? 'info'], opts.write ?? writeStderr, opts.base ?? {})
}

export const silentLogger: Logger = createLogger({ write: () => {} })
