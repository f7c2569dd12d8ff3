/**
 * Configuration leaves. Each leaf knows its default, how to parse a string (from
 * env or flags) and how to validate a value (from any layer). A section is a plain
 * object of leaves and nested sections.
 */
export type Leaf<T> = {
  kind: 'leaf'
  default: T
  secret?: boolean
  doc?: string
  /** Parse a string from an environment variable or a flag. */
  parse: (raw: string) => unknown
  /** Returns an error message ("must be …") or null. */
  check: (v: unknown) => string | null
}
export type Section = { [key: string]: Leaf<unknown> | Section }

const leaf = <T>(def: T, parse: Leaf<T>['parse'], check: Leaf<T>['check'], extra?: Partial<Leaf<T>>): Leaf<T> => ({
  kind: 'leaf',
  default: def,
  parse,
  check,
  ...extra,
})

export const str = (def: string, opts: { secret?: boolean; pattern?: RegExp; patternDoc?: string; doc?: string; allowEmpty?: boolean } = {}) =>
  leaf(
    def,
    (raw) => raw,
    (v) => {
      if (typeof v !== 'string') return 'must be a string'
      if (!opts.allowEmpty && def !== '' && v === '') return 'must not be empty'
      if (opts.pattern && v !== '' && !opts.pattern.test(v)) return `must be ${opts.patternDoc ?? `like ${opts.pattern}`}`
      return null
    },
    { secret: opts.secret, doc: opts.doc },
  )

export const int = (def: number, min: number, max: number, doc?: string) =>
  leaf(
    def,
    (raw) => (/^-?\d+$/.test(raw.trim()) ? Number(raw) : raw),
    (v) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `must be an integer between ${min} and ${max}`),
    { doc },
  )

export const bool = (def: boolean, doc?: string) =>
  leaf(
    def,
    (raw) => ({ true: true, '1': true, yes: true, on: true, false: false, '0': false, no: false, off: false })[raw.trim().toLowerCase()] ?? raw,
    (v) => (typeof v === 'boolean' ? null : 'must be true or false'),
    { doc },
  )

export const oneOf = <T extends string>(def: T, values: readonly T[], doc?: string) =>
  leaf<T>(def, (raw) => raw.trim(), (v) => (values.includes(v as T) ? null : `must be one of ${values.join(', ')}`), { doc })

export const strList = (def: string[], doc?: string) =>
  leaf(
    def,
    (raw) => raw.split(',').map((s) => s.trim()).filter(Boolean),
    (v) => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? null : 'must be a list of strings'),
    { doc },
  )

/** A structured value (e.g. a list of objects) only settable from the config file or as JSON in env/flags. */
export const json = <T>(def: T, check: (v: unknown) => string | null, opts: { secret?: boolean; doc?: string } = {}) =>
  leaf<T>(
    def,
    (raw) => {
      try {
        return JSON.parse(raw)
      } catch {
        return Symbol('invalid json')
      }
    },
    (v) => (typeof v === 'symbol' ? 'must be valid JSON' : check(v)),
    opts,
  )

export const isLeaf = (x: Leaf<unknown> | Section): x is Leaf<unknown> => (x as Leaf<unknown>).kind === 'leaf'
