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

export function createLogger(opts: { level?: Level; write?: (line: string) => void; base?: Record<string, unknown> } = {}): Logger {
  const min = rank[opts.level ?? 'info']
  const write = opts.write ?? writeStderr
  const base = opts.base ?? {}
  let baseJson: string | undefined // computed on first use: a request's child logger usually never writes
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (rank[level] < min) return
    const rec: Record<string, unknown> = { time: isoNow(), level, msg, ...base, ...fields }
    const err = rec.err
    if (err instanceof Error) rec.err = { name: err.name, message: err.message, stack: err.stack }
    write(JSON.stringify(rec) + '\n')
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ level: opts.level, write, base: { ...base, ...fields } }),
    infoFields: (msg, fieldsJson) => {
      if (rank.info < min) return
      baseJson ??= Object.keys(base).length ? ',' + JSON.stringify(base).slice(1, -1) : ''
      write(`{"time":"${isoNow()}","level":"info","msg":${JSON.stringify(msg)}${baseJson}${fieldsJson ? ',' + fieldsJson : ''}}\n`)
    },
  }
}

export const silentLogger: Logger = createLogger({ write: () => {} })
