/** Builds the benchmark relay of join-relay.c (port-floor.ts, tunnel.ts). */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Compiles join-relay.c with cc into a temporary directory removed when this process exits; the executable's path. */
export function buildJoinRelay(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nestbox-bench-relay-'))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  const bin = join(dir, 'join-relay')
  execFileSync('cc', ['-O2', '-Wall', '-o', bin, new URL('./join-relay.c', import.meta.url).pathname], { stdio: 'inherit' })
  return bin
}
