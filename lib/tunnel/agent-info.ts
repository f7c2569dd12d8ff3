/** What a local agent reports about its machine (agent_info, seed 001), and its opencode: found, versioned, started. */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { statfs } from 'node:fs/promises'
import { connect } from 'node:net'
import { arch, availableParallelism, hostname, platform, release, totalmem, type } from 'node:os'
import { join } from 'node:path'
import { VERSION } from '../core/version.ts'
import { findOpencode } from '../sandboxes/packages.ts'

export async function agentInfo(o: { workdir: string; opencodeVersion: string | null; localPort: number }): Promise<Record<string, unknown>> {
  const fs = await statfs(o.workdir).catch(() => null)
  return {
    hostname: hostname(),
    os: platform(),
    platform: `${type()} ${release()} ${arch()}`,
    cpu_count_logical: availableParallelism(),
    memory_total: totalmem(),
    disk_total: fs ? fs.blocks * fs.bsize : null,
    disk_free: fs ? fs.bavail * fs.bsize : null,
    agent_version: VERSION,
    opencode_version: o.opencodeVersion,
    opencode_port: o.localPort,
    workdir: o.workdir,
  }
}

/** `opencode --version`, or null when it is not installed or does not answer within 15 s. */
export function opencodeVersion(bin: string): Promise<string | null> {
  return new Promise((res) => {
    execFile(bin, ['--version'], { timeout: 15_000 }, (err, stdout) => res(err ? null : stdout.trim().split('\n')[0] || null))
  })
}

/**
 * The opencode to run and its version: the one asked for, else the user's own on PATH, else the
 * one nestbox installs (npm opencode-ai); null when none answers `--version`.
 */
export async function resolveOpencode(asked?: string): Promise<{ bin: string; version: string } | null> {
  const candidates = asked ? [asked] : ['opencode']
  if (!asked) {
    try {
      const f = findOpencode('')
      candidates.push(join(f.dir, f.file))
    } catch {}
  }
  for (const bin of candidates) {
    const version = await opencodeVersion(bin)
    if (version) return { bin, version }
  }
  return null
}

/** Starts `opencode serve` on 127.0.0.1:port in `workdir` (its output passes through to ours). */
export function startOpencode(bin: string, port: number, workdir: string, password: string): ChildProcess {
  return spawn(bin, ['serve', '--hostname', '127.0.0.1', '--port', String(port)], { cwd: workdir, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, OPENCODE_SERVER_PASSWORD: password } })
}

/** Resolves true once something accepts TCP connections on 127.0.0.1:port, false after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => (s.destroy(), res(true)))
      s.once('error', () => res(false))
    })
    if (ok) return true
    await new Promise((r) => setTimeout(r, 200))
  }
  return false
}
