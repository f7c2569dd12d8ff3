/**
 * Shared setup for the tests that drive the process runtime directly: a runtime
 * over a temporary data directory, capsule specs, a shell helper, and the host's
 * live processes.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../../lib/core/logger.ts'
import { createProcessRuntime, type ProcessRuntimeOptions } from '../../lib/capsules/runtime/process.ts'
import type { CapsuleSpec, Runtime } from '../../lib/capsules/runtime/types.ts'

let seq = 0
/** A capsule id unique to this test process. */
export const capsuleId = () => `sb-t${process.pid.toString(16)}${(seq++).toString(16)}`

export const spec = (over: Partial<CapsuleSpec> = {}): CapsuleSpec => ({
  id: capsuleId(),
  template: { name: 'minimal', rootDir: null },
  vcpus: 1,
  memoryMb: 256,
  ...over,
})

export type TestRuntime = { rt: Runtime; dataDir: string; uidBase: number; close: () => Promise<void> }

/** Data dirs of the runtimes this process opened and has not closed: a crashed test must not leave capsules running. */
const open = new Set<string>()
process.on('exit', () => {
  for (const dir of open) {
    const capsules = join(dir, 'runtime', 'capsules')
    for (const id of existsSync(capsules) ? readdirSync(capsules) : []) {
      try {
        process.kill(JSON.parse(readFileSync(join(capsules, id, 'state.json'), 'utf8')).pid1, 'SIGKILL')
      } catch {
        // not running
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
})

/** Each test file gets its own uid ranges (by pid), so files running side by side never share one. */
export function testRuntime(opts: Partial<ProcessRuntimeOptions> & { dataDir?: string } = {}): TestRuntime {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'nestbox-rt-'))
  const uidBase = opts.uidBase ?? 500_000_000 + (process.pid % 400) * 32 * 65_536
  open.add(dataDir)
  const rt = createProcessRuntime({ log: silentLogger, cgroupParent: 'nestbox-test', maxCapsules: 16, ...opts, uidBase, dataDir: join(dataDir, 'runtime') })
  return {
    rt,
    dataDir,
    uidBase,
    close: async () => {
      await rt.shutdown()
      open.delete(dataDir)
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Runs a shell script inside a capsule as root and returns its exit code and text output. */
export async function sh(rt: Runtime, id: string, script: string, opts: { user?: string; timeoutMs?: number } = {}) {
  const r = await rt.exec(id, { cmd: '/bin/sh', args: ['-c', script], user: opts.user, timeoutMs: opts.timeoutMs ?? 20_000 })
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString(), timedOut: r.timedOut }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Host processes alive now (zombies left out), each with its /proc status; `cgroup()` reads its cgroups ('' once it is gone). */
export function liveProcesses(): Array<{ pid: number; status: string; cgroup: () => string }> {
  const out: Array<{ pid: number; status: string; cgroup: () => string }> = []
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8')
      if (/^State:\s+Z/m.test(status)) continue
      const cgroup = () => {
        try {
          return readFileSync(`/proc/${p}/cgroup`, 'utf8')
        } catch {
          return ''
        }
      }
      out.push({ pid: Number(p), status, cgroup })
    } catch {
      // exited while we looked
    }
  }
  return out
}
