/**
 * Build recipes. compat(wrenn): a recipe is a list of Dockerfile-like lines —
 * RUN [--timeout=<dur>] <cmd>, START <cmd>, ENV <key>=<value>, WORKDIR <path> —
 * and the healthcheck is "[--interval=] [--timeout=] [--start-period=] [--retries=] <cmd>".
 * nestbox adds ADD <url> <dest> (a file fetched by nestbox, written into the capsule).
 * Wrenn's USER and COPY (files from a build archive) are refused with a clear message.
 */
import { invalid } from '../../core/errors.ts'

export type Step =
  | { kind: 'RUN'; raw: string; cmd: string; timeoutMs: number | null }
  | { kind: 'START'; raw: string; cmd: string }
  | { kind: 'ENV'; raw: string; key: string; value: string }
  | { kind: 'WORKDIR'; raw: string; path: string }
  | { kind: 'ADD'; raw: string; url: string; dest: string }

export type Healthcheck = { cmd: string; intervalMs: number; timeoutMs: number; startPeriodMs: number; retries: number }

/** Go-style durations as Wrenn takes them: 90s, 5m, 1h30m, 250ms. */
export function parseDuration(s: string): number | null {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) return null
  let ms = 0
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms']
  return ms
}

function parseStep(line: unknown, n: number): Step {
  if (typeof line !== 'string' || !line.trim()) throw invalid(`recipe line ${n}: must be a non-empty string`, 'invalid_recipe')
  const raw = line.trim()
  const sp = raw.search(/\s/)
  const keyword = (sp < 0 ? raw : raw.slice(0, sp)).toUpperCase()
  const rest = sp < 0 ? '' : raw.slice(sp).trim()
  const bad = (why: string) => invalid(`recipe line ${n}: ${why}`, 'invalid_recipe')
  switch (keyword) {
    case 'RUN': {
      let cmd = rest
      let timeoutMs: number | null = null
      const m = /^--timeout=(\S+)\s+(.*)$/s.exec(rest)
      if (m) {
        timeoutMs = parseDuration(m[1])
        if (timeoutMs == null || timeoutMs <= 0) throw bad(`RUN --timeout= needs a duration like 90s or 5m, got "${m[1].slice(0, 32)}"`)
        cmd = m[2].trim()
      } else if (rest.startsWith('--timeout=')) throw bad('RUN --timeout= has no command')
      if (!cmd) throw bad('RUN needs a command')
      return { kind: 'RUN', raw, cmd, timeoutMs }
    }
    case 'START':
      if (!rest) throw bad('START needs a command')
      return { kind: 'START', raw, cmd: rest }
    case 'ENV': {
      const eq = rest.indexOf('=')
      if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(rest.slice(0, eq))) throw bad('ENV needs KEY=VALUE with a valid variable name')
      return { kind: 'ENV', raw, key: rest.slice(0, eq), value: rest.slice(eq + 1) }
    }
    case 'WORKDIR':
      if (!rest.startsWith('/')) throw bad('WORKDIR needs an absolute path')
      return { kind: 'WORKDIR', raw, path: rest }
    case 'ADD': {
      const parts = rest.split(/\s+/)
      if (parts.length !== 2 || !/^https?:\/\//.test(parts[0]) || !parts[1].startsWith('/')) throw bad('ADD needs <http(s) URL> <absolute destination path>')
      return { kind: 'ADD', raw, url: parts[0], dest: parts[1] }
    }
    case 'USER':
    case 'COPY':
      throw bad(`${keyword} is not supported (files come in with ADD <url> <dest>; commands run as the capsule's user)`)
    default:
      throw bad(`unknown instruction "${keyword.slice(0, 16)}" (expected RUN, START, ENV, WORKDIR or ADD)`)
  }
}

export function parseRecipe(v: unknown, maxSteps = 200): Step[] {
  if (!Array.isArray(v) || v.length === 0) throw invalid('recipe must contain at least one command', 'invalid_recipe')
  if (v.length > maxSteps) throw invalid(`recipe has more than ${maxSteps} lines`, 'invalid_recipe')
  return v.map((l, i) => parseStep(l, i + 1))
}

export function parseHealthcheck(v: unknown): Healthcheck | null {
  if (v === undefined || v === null || v === '') return null
  if (typeof v !== 'string') throw invalid('healthcheck must be a string', 'invalid_healthcheck')
  const hc: Healthcheck = { cmd: '', intervalMs: 3000, timeoutMs: 10_000, startPeriodMs: 0, retries: 0 }
  const tokens = v.trim().split(/\s+/)
  let i = 0
  for (; i < tokens.length && tokens[i].startsWith('--'); i++) {
    const [k, val] = tokens[i].split('=', 2)
    const bad = () => invalid(`healthcheck flag ${tokens[i].slice(0, 32)} is malformed`, 'invalid_healthcheck')
    if (val === undefined) throw bad()
    if (k === '--retries') {
      if (!/^\d+$/.test(val)) throw bad()
      hc.retries = Number(val)
      continue
    }
    const ms = parseDuration(val)
    if (ms == null) throw bad()
    if (k === '--interval') hc.intervalMs = ms
    else if (k === '--timeout') hc.timeoutMs = ms
    else if (k === '--start-period') hc.startPeriodMs = ms
    else throw invalid(`unknown healthcheck flag ${k.slice(0, 32)}`, 'invalid_healthcheck')
  }
  hc.cmd = tokens.slice(i).join(' ')
  if (!hc.cmd) throw invalid('healthcheck has no command', 'invalid_healthcheck')
  return hc
}
