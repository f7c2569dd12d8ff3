/**
 * `nestbox doctor`: checks what this host gives nestbox, one line per check.
 * A failing required check makes the command exit non-zero; optional ones warn.
 */
import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { openSqlite } from './db.ts'
import { helperBinary, inExecutable } from './native.ts'

export type CheckResult = { name: string; ok: boolean; required: boolean; detail: string }
/** One line of the report: `run` returns the detail or throws with the reason (a failure when required, else a warning). */
export type Check = { name: string; required: boolean; run: () => Promise<string> | string }

/** Thrown by a check to fail with a short explanation. */
class CheckFailed extends Error {}
const failed = (msg: string): never => {
  throw new CheckFailed(msg)
}

type DenoGlobal = { Deno?: { version: { deno: string } } }

function runtime(): string {
  const where = inExecutable() ? `executable ${process.execPath}` : 'from a checkout'
  const deno = (globalThis as DenoGlobal).Deno
  if (deno) return `deno ${deno.version.deno} (node compat ${process.version}), ${where}`
  const major = Number(process.versions.node.split('.')[0])
  if (major < 24) failed(`node ${process.version}: nestbox needs Node 24 or later (npm ci installs it into node_modules/.bin)`)
  return `node ${process.version}, ${where}`
}

function sqlite(): string {
  const db = openSqlite(':memory:')
  try {
    const { v } = db.prepare('SELECT sqlite_version() AS v').get() as { v: string }
    return `better-sqlite3 loaded${inExecutable() ? ' (embedded addon)' : ''}, SQLite ${v}`
  } finally {
    db.close()
  }
}

async function pty(): Promise<string> {
  const mod = await import('node-pty')
  const spawn = mod.spawn ?? (mod as unknown as { default: typeof mod }).default.spawn
  const term = spawn('echo', ['ok'], { name: 'xterm', cols: 80, rows: 24, cwd: '/' })
  let out = ''
  term.onData((d) => (out += d))
  const code = await new Promise<number>((res, rej) => {
    const timer = setTimeout(() => {
      term.kill()
      rej(new CheckFailed('`echo ok` in a pty did not exit within 5 s'))
    }, 5000)
    term.onExit((e) => {
      clearTimeout(timer)
      res(e.exitCode)
    })
  })
  // The last output can arrive just after the exit event.
  if (!out.includes('ok')) await new Promise((r) => setTimeout(r, 50))
  if (code !== 0 || !out.includes('ok')) failed(`\`echo ok\` in a pty exited ${code} printing ${JSON.stringify(out.trim())}`)
  return `node-pty loaded${inExecutable() ? ' (embedded addon)' : ''}, \`echo ok\` ran in a pty`
}

function bubblewrap(): string {
  const v = spawnSync('bwrap', ['--version'], { encoding: 'utf8', timeout: 5000 })
  if (v.error) failed(`bwrap not found (${(v.error as NodeJS.ErrnoException).code}); install the bubblewrap package (bin/deps.sh)`)
  const version = v.stdout.trim() || 'bwrap'
  // The namespaces a capsule needs; a hardened service manager or container can forbid them.
  const ns = spawnSync(
    'bwrap',
    ['--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', 'true'],
    { encoding: 'utf8', timeout: 10_000 },
  )
  if (ns.status !== 0) failed(`${version} present but cannot create namespaces: ${(ns.stderr || ns.error?.message || `exit ${ns.status}`).trim()}`)
  return `${version}, creates user/pid/net/mount namespaces`
}

/** nestbox-enter, the static helper every exec, file operation and terminal in a capsule goes through. */
function enterHelper(): string {
  const path = helperBinary('nestbox-enter', 'lib/capsules/runtime/nestbox-enter.c')
  const r = spawnSync(path, [], { encoding: 'utf8', timeout: 5000, env: {} })
  if (r.error) failed(`${path} cannot run: ${r.error.message}`)
  if (r.status !== 255 || !r.stderr.includes('needs --pid')) failed(`${path} answered unexpectedly (exit ${r.status}): ${r.stderr.trim().slice(0, 200)}`)
  return `${path} runs`
}

/** cgroup version and the controllers this process's cgroup offers. Capsule limits use them where present. */
function cgroups(): string {
  const own = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    const path = own.find((l) => l.startsWith('0::'))?.slice(3) ?? '/'
    const dir = join('/sys/fs/cgroup', path)
    const file = existsSync(join(dir, 'cgroup.controllers')) ? join(dir, 'cgroup.controllers') : '/sys/fs/cgroup/cgroup.controllers'
    const controllers = readFileSync(file, 'utf8').trim()
    let writable = true
    try {
      accessSync(dir, constants.W_OK)
    } catch {
      writable = false
    }
    if (!controllers) failed(`cgroup v2 (${path}) with no controllers delegated`)
    return `cgroup v2 at ${path}: ${controllers}${writable ? '' : ' (not writable: no per-capsule limits)'}`
  }
  const v1 = own
    .map((l) => l.split(':')[1])
    .filter((c) => c && !c.startsWith('name='))
    .flatMap((c) => c.split(','))
  if (!v1.length) failed('no cgroup controllers found')
  const hybrid = existsSync('/sys/fs/cgroup/unified') ? ' (hybrid)' : ''
  return `cgroup v1${hybrid}: ${[...new Set(v1)].sort().join(' ')}`
}

function dataDir(dir: string): string {
  const abs = resolve(dir)
  if (!existsSync(abs)) {
    let parent = dirname(abs)
    while (!existsSync(parent)) parent = dirname(parent)
    if (!statSync(parent).isDirectory()) failed(`${abs} cannot be created: ${parent} is not a directory`)
    try {
      accessSync(parent, constants.W_OK)
    } catch (e) {
      failed(`${abs} cannot be created: ${parent} is not writable (${(e as NodeJS.ErrnoException).code})`)
    }
    return `${abs} does not exist yet; ${parent} is writable`
  }
  if (!statSync(abs).isDirectory()) failed(`${abs} is not a directory`)
  const probe = join(abs, `.doctor-${process.pid}`)
  try {
    writeFileSync(probe, 'ok', { mode: 0o600 })
  } catch (e) {
    failed(`${abs} is not writable (${(e as NodeJS.ErrnoException).code})`)
  } finally {
    rmSync(probe, { force: true })
  }
  return `${abs} is writable`
}

/** The host checks; domains add theirs (`extra`, from main.ts) after them. */
export function doctorChecks(cfg: { dataDir: string }, extra: Check[] = []): Check[] {
  return [
    { name: 'runtime', required: true, run: runtime },
    { name: 'sqlite', required: true, run: sqlite },
    { name: 'pty', required: true, run: pty },
    { name: 'bubblewrap', required: true, run: bubblewrap },
    { name: 'entry', required: true, run: enterHelper },
    { name: 'cgroups', required: false, run: cgroups },
    { name: 'data dir', required: true, run: () => dataDir(cfg.dataDir) },
    ...extra,
  ]
}

/** Runs every check in order, printing one line each; resolves to the exit code. */
export async function runDoctor(cfg: { dataDir: string }, extra: Check[] = [], print: (line: string) => void = (l) => console.log(l)): Promise<number> {
  let bad = 0
  for (const check of doctorChecks(cfg, extra)) {
    let r: CheckResult
    try {
      r = { name: check.name, ok: true, required: check.required, detail: await check.run() }
    } catch (e) {
      const msg = e instanceof CheckFailed ? e.message : `${(e as Error)?.message ?? e}`.split('\n')[0]
      r = { name: check.name, ok: false, required: check.required, detail: msg }
    }
    if (!r.ok && r.required) bad++
    print(`${(r.ok ? 'ok' : r.required ? 'FAIL' : 'warn').padEnd(5)} ${r.name.padEnd(11)} ${r.detail}`)
  }
  return bad ? 1 : 0
}
