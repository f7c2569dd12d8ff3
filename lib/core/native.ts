/**
 * Native addons. From a checkout they load from node_modules as usual; inside the
 * single executable, build.ts ships them as SEA assets that are written out once
 * and loaded with process.dlopen.
 *
 * The written copy is what the process will execute, so it must not be something
 * another local user could plant or swap: it lives in a directory created 0700 and
 * owned by our uid (refused otherwise), is named by the content's SHA-256, and is
 * re-hashed before every load.
 */
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, mkdtempSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

type Sea = { isSea(): boolean; getAsset(key: string): ArrayBuffer }

let sea: Sea | null | undefined
function seaApi(): Sea | null {
  if (sea !== undefined) return sea
  try {
    // getBuiltinModule rather than import: node:sea only exists on Node (not Deno), and the bundle is CommonJS.
    const mod = process.getBuiltinModule?.('node:sea') as Sea | undefined
    sea = mod?.isSea() ? mod : null
  } catch {
    sea = null
  }
  return sea
}

/** True inside the single executable built by build.ts. */
export const inExecutable = () => seaApi() !== null

/** Asset name of the addon hash manifest (build.ts writes it). */
export const ADDON_HASHES = 'addons.sha256.json'

const loaded = new Map<string, unknown>()
let scratchDir: string | undefined

const uid = () => process.getuid?.() ?? 0
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** Throws unless `dir` is a real directory (not a symlink) owned by us and closed to group and others. */
function assertPrivateDir(dir: string): void {
  const st = lstatSync(dir)
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`)
  if (st.uid !== uid()) throw new Error(`${dir} is owned by uid ${st.uid}, not ${uid()}`)
  if (st.mode & 0o077) throw new Error(`${dir} is accessible to other users (mode ${(st.mode & 0o777).toString(8)})`)
}

/** A per-uid cache directory that survives restarts, so the addon is written once, not on every start. */
function privateDir(base: string, createBase = false): string {
  const dir = join(base, `nestbox-${uid()}`)
  if (createBase) mkdirSync(base, { recursive: true, mode: 0o700 })
  try {
    mkdirSync(dir, { mode: 0o700 })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
  }
  assertPrivateDir(dir)
  return dir
}

/** Candidate directories, best first. /tmp may be mounted noexec, hence the fallbacks. */
function candidateDirs(): Array<() => string> {
  return [
    () => privateDir(tmpdir()),
    () => privateDir(join(homedir(), '.cache'), true),
    // Someone holds the predictable name (or it is unusable): a fresh random directory, removed at exit.
    () => {
      if (!scratchDir) {
        const dir = (scratchDir = mkdtempSync(join(tmpdir(), 'nestbox-addons-')))
        process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
      }
      assertPrivateDir(scratchDir)
      return scratchDir
    },
  ]
}

/** Hashed in chunks: reading the whole addon would leave MBs of buffer behind until a GC that an idle server may not run. */
function sha256OfFile(file: string): string {
  const h = createHash('sha256')
  const buf = Buffer.allocUnsafeSlow(64 * 1024)
  const fd = openSync(file, 'r')
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n))
  } finally {
    closeSync(fd)
  }
  return h.digest('hex')
}

/** Writes `bytes` to `file` unless an intact copy (same hash, regular file, ours) is already there. */
function materialise(file: string, bytes: () => Uint8Array, hash: string): void {
  try {
    const st = lstatSync(file)
    if (st.isFile() && st.uid === uid() && sha256OfFile(file) === hash) return
  } catch {
    // absent: write it
  }
  const tmp = `${file}.${process.pid}.tmp`
  rmSync(tmp, { force: true })
  const fd = openSync(tmp, 'wx', 0o500) // wx: never follows or reuses an existing path
  try {
    writeSync(fd, bytes())
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}

let hashes: Record<string, string> | undefined
/** SHA-256 of each addon asset, computed by build.ts and shipped as the small asset "addons.sha256.json". */
function assetHashes(s: Sea): Record<string, string> {
  if (hashes) return hashes
  try {
    hashes = JSON.parse(new TextDecoder().decode(s.getAsset(ADDON_HASHES))) as Record<string, string>
  } catch {
    hashes = {}
  }
  return hashes
}

/**
 * Writes SEA asset `name` once into the first usable private cache directory and
 * hands the file to `use` (dlopen, or just its path); the next directory is tried
 * when writing or using it there fails (e.g. /tmp mounted noexec).
 */
function withEmbeddedFile<T>(name: string, use: (file: string) => T): T {
  const s = seaApi()
  if (!s) throw new Error(`not running as the nestbox executable; cannot use embedded ${name}`)
  // The asset is read only when the cached copy must be (re)written: reading it touches MBs of the executable.
  let bytes: Uint8Array | undefined
  const asset = () => (bytes ??= new Uint8Array(s.getAsset(name)))
  const hash = assetHashes(s)[name] ?? sha256(asset())
  const problems: string[] = []
  for (const dir of candidateDirs()) {
    try {
      const file = join(dir(), `${hash.slice(0, 16)}-${name}`)
      materialise(file, asset, hash)
      return use(file)
    } catch (e) {
      problems.push((e as Error).message.split('\n')[0])
    }
  }
  throw new Error(`cannot use embedded ${name}: ${problems.join('; ')}`)
}

/** Loads the addon shipped as SEA asset `name` (e.g. "better_sqlite3.node"). */
export function loadEmbeddedAddon(name: string): unknown {
  if (loaded.has(name)) return loaded.get(name)
  return withEmbeddedFile(name, (file) => {
    const mod = { exports: {} as unknown }
    process.dlopen(mod, file)
    loaded.set(name, mod.exports)
    return mod.exports
  })
}

/** Path of the executable shipped as SEA asset `name`, written once (0500) into the private cache directory. */
export const embeddedExecutable = (name: string): string => withEmbeddedFile(name, (file) => file)

const helpers = new Map<string, string>()
/**
 * A helper program of nestbox's own (e.g. nestbox-enter): compiled from `source`
 * (a path from the repository root) into build/ by npm ci in a checkout, shipped
 * as an asset of the single executable.
 */
export function helperBinary(name: string, source: string): string {
  const known = helpers.get(name)
  if (known) return known
  const path = inExecutable() ? embeddedExecutable(name) : builtFile(name, source)
  helpers.set(name, path)
  return path
}

/** build/<name> in a checkout, compiled from `source` by npm ci: refused when missing or older than its source. */
function builtFile(name: string, source: string): string {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const path = join(root, 'build', name)
  if (!existsSync(path)) throw new Error(`${path} is missing: run npm ci (its postinstall compiles ${source})`)
  if ((statSync(join(root, source), { throwIfNoEntry: false })?.mtimeMs ?? 0) > statSync(path).mtimeMs) throw new Error(`${path} is older than ${source}: run npm ci or bin/build-enter.sh`)
  return path
}

/** A socket's (or pipe's) descriptor, where the runtime shows it (Node's handle; not Deno's). */
export function socketFd(s: unknown): number | null {
  const fd = (s as { _handle?: { fd?: number } } | null | undefined)?._handle?.fd
  return typeof fd === 'number' && fd >= 0 ? fd : null
}

/**
 * An addon of nestbox's own (e.g. nestbox_receive.node): compiled from `source` into
 * build/ by npm ci in a checkout, shipped as an asset of the single executable.
 */
export function ownAddon(name: string, source: string): unknown {
  if (inExecutable()) return loadEmbeddedAddon(name)
  if (loaded.has(name)) return loaded.get(name)
  const mod = { exports: {} as unknown }
  process.dlopen(mod, builtFile(name, source))
  loaded.set(name, mod.exports)
  return mod.exports
}

/** The better-sqlite3 binding to hand to its `nativeBinding` option, or undefined from a checkout. */
export function sqliteNativeBinding(): unknown {
  return inExecutable() ? loadEmbeddedAddon('better_sqlite3.node') : undefined
}
