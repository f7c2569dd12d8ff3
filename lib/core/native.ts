/**
 * Native addons. From a checkout they load from node_modules as usual; inside the
 * single executable, build.ts ships them as SEA assets that are written to a cache
 * directory once and loaded with process.dlopen.
 */
import { createRequire } from 'node:module'
import { existsSync, mkdirSync, writeFileSync, renameSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

type Sea = { isSea(): boolean; getAsset(key: string): ArrayBuffer }

let sea: Sea | null | undefined
function seaApi(): Sea | null {
  if (sea !== undefined) return sea
  try {
    const req = createRequire(import.meta.url)
    const mod = req('node:sea') as Sea
    sea = mod.isSea() ? mod : null
  } catch {
    sea = null
  }
  return sea
}

export const inExecutable = () => seaApi() !== null

const loaded = new Map<string, unknown>()

/** Loads an addon shipped as SEA asset `name` (e.g. "better_sqlite3.node"). */
export function loadEmbeddedAddon(name: string): unknown {
  const cached = loaded.get(name)
  if (cached) return cached
  const s = seaApi()
  if (!s) throw new Error(`not running as an executable; cannot load embedded ${name}`)
  const bytes = Buffer.from(s.getAsset(name))
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16)
  const dir = join(tmpdir(), `nestbox-addons-${process.getuid?.() ?? 0}`)
  const file = join(dir, `${hash}-${name}`)
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, bytes, { mode: 0o500 })
    renameSync(tmp, file)
  }
  const mod = { exports: {} as unknown }
  process.dlopen(mod, file)
  loaded.set(name, mod.exports)
  return mod.exports
}

/** The better-sqlite3 binding to hand to its `nativeBinding` option, or undefined from a checkout. */
export function sqliteNativeBinding(): unknown {
  return inExecutable() ? loadEmbeddedAddon('better_sqlite3.node') : undefined
}
