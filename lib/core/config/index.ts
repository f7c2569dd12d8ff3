/**
 * Effective configuration: embedded defaults, then an optional YAML file
 * (--config), then NESTBOX_* environment variables, then command-line flags.
 * The only place that reads process.env.
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { isLeaf, type Leaf, type Section } from './spec.ts'
import { crossChecks, schema } from './schema.ts'
import { LitellmConfigError, readLitellmConfig, redactLitellm, type LitellmConfig } from './litellm.ts'

type ValueOf<S> = S extends Leaf<infer T> ? T : S extends Section ? { [K in keyof S]: ValueOf<S[K]> } : never
/** The settings, plus the gateway's LiteLLM configuration read from gateway.litellmConfig and gateway.modelList. */
export type Config = ValueOf<typeof schema> & { litellm: LitellmConfig }

export class ConfigError extends Error {}

/** Flag shorthands for the most used keys; any key can be set with --set path=value. */
const FLAG_ALIASES: Record<string, string> = {
  port: 'listen.port',
  host: 'listen.host',
  'data-dir': 'dataDir',
  'log-level': 'logLevel',
  'public-url': 'publicUrl',
}

/** Every flag parseFlags takes (without the leading --). */
export const FLAG_NAMES = ['config', 'set', ...Object.keys(FLAG_ALIASES)]

export const envName = (path: string[]) =>
  'NESTBOX_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')

type Origin = { value: unknown; from: string }

function leaves(section: Section, prefix: string[] = []): Array<[string[], Leaf<unknown>]> {
  return Object.entries(section).flatMap(([k, v]) => (isLeaf(v) ? [[[...prefix, k], v] as [string[], Leaf<unknown>]] : leaves(v, [...prefix, k])))
}

function getPath(obj: unknown, path: string[]): unknown {
  let cur = obj
  for (const p of path) {
    if (cur == null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[p]
  }
  return cur
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown) {
  let cur = obj
  for (const p of path.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>
  cur[path.at(-1)!] = value
}

/** Reports file keys that match no setting, so typos fail loudly. */
function unknownKeys(file: unknown, section: Section, prefix: string[] = []): string[] {
  if (file == null || typeof file !== 'object' || Array.isArray(file)) return []
  return Object.entries(file).flatMap(([k, v]) => {
    const spec = section[k]
    if (!spec) return [[...prefix, k].join('.')]
    return isLeaf(spec) ? [] : unknownKeys(v, spec, [...prefix, k])
  })
}

export type LoadInput = { argv?: string[]; env?: Record<string, string | undefined>; configFile?: string }

export function parseFlags(argv: string[]): { configFile?: string; sets: Array<[string, string]>; rest: string[] } {
  const sets: Array<[string, string]> = []
  const rest: string[] = []
  let configFile: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a)
    if (!m) {
      rest.push(a)
      continue
    }
    const name = m[1]
    const takeValue = () => {
      if (m[2] !== undefined) return m[2]
      const v = argv[++i]
      if (v === undefined) throw new ConfigError(`config: flag --${name} needs a value`)
      return v
    }
    if (name === 'config') configFile = takeValue()
    else if (name === 'set') {
      const kv = takeValue()
      const eq = kv.indexOf('=')
      if (eq < 1) throw new ConfigError(`config: --set expects key=value, got "${kv}"`)
      sets.push([kv.slice(0, eq), kv.slice(eq + 1)])
    } else if (FLAG_ALIASES[name]) sets.push([FLAG_ALIASES[name], takeValue()])
    else rest.push(a)
  }
  return { configFile, sets, rest }
}

export function loadConfig(input: LoadInput = {}): Config {
  const env = input.env ?? process.env
  const { configFile: flagFile, sets } = parseFlags(input.argv ?? [])
  const configFile = flagFile ?? input.configFile ?? env.NESTBOX_CONFIG
  let file: unknown = {}
  if (configFile) {
    let text: string
    try {
      text = readFileSync(configFile, 'utf8')
    } catch (e) {
      throw new ConfigError(`config: cannot read config file ${configFile}: ${(e as Error).message}`)
    }
    try {
      file = parseYaml(text) ?? {}
    } catch (e) {
      throw new ConfigError(`config: ${configFile} is not valid YAML: ${(e as Error).message.split('\n')[0]}`)
    }
    const unknown = unknownKeys(file, schema)
    if (unknown.length) throw new ConfigError(`config: unknown key ${unknown[0]} in ${configFile}`)
  }
  const flagMap = new Map(sets)
  const known = new Set(leaves(schema).map(([p]) => p.join('.')))
  for (const k of flagMap.keys()) if (!known.has(k)) throw new ConfigError(`config: unknown key ${k} (from --set)`)

  const out: Record<string, unknown> = {}
  for (const [path, spec] of leaves(schema)) {
    const key = path.join('.')
    let o: Origin = { value: structuredClone(spec.default), from: 'default' }
    const fv = getPath(file, path)
    if (fv !== undefined && fv !== null) o = { value: fv, from: configFile! }
    const ev = env[envName(path)]
    if (ev !== undefined && ev !== '') o = { value: spec.parse(ev), from: envName(path) }
    if (flagMap.has(key)) o = { value: spec.parse(flagMap.get(key)!), from: 'flag' }
    const problem = spec.check(o.value)
    if (problem) {
      const shown = spec.secret ? '***' : JSON.stringify(typeof o.value === 'symbol' ? String(o.value) : o.value)
      throw new ConfigError(`config: ${key} ${problem} (got ${shown} from ${o.from})`)
    }
    setPath(out, path, o.value)
  }
  for (const check of crossChecks) {
    const problem = check(out as Parameters<typeof check>[0])
    if (problem) throw new ConfigError(`config: ${problem}`)
  }
  try {
    out.litellm = readLitellmConfig(out.gateway as Config['gateway'], env)
  } catch (e) {
    if (e instanceof LitellmConfigError) throw new ConfigError(e.message)
    throw e
  }
  return out as Config
}

/** The configuration with every secret leaf replaced by "***" (or "" when unset). */
export function redactConfig(cfg: Config): Record<string, unknown> {
  const out = structuredClone({ ...cfg, litellm: redactLitellm(cfg.litellm) }) as Record<string, unknown>
  for (const [path, spec] of leaves(schema)) {
    if (!spec.secret) continue
    const v = getPath(out, path)
    setPath(out, path, v === '' || v == null ? '' : '***')
  }
  return out
}
