/**
 * `setpriv --pdeathsig` (util-linux 2.33+) sets PR_SET_PDEATHSIG, which Node
 * cannot, and then execs the program: the kernel signals the program when its
 * parent dies, even by SIGKILL. See supervisor.ts for why it matters.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

// Fixed locations rather than a PATH search: this program runs every start of the tunnel.
const CANDIDATES = ['/usr/bin/setpriv', '/bin/setpriv']

/** The path of a setpriv that accepts --pdeathsig, or null. */
export function findSetpriv(candidates = CANDIDATES): string | null {
  for (const path of candidates) {
    if (!existsSync(path)) continue
    const r = spawnSync(path, ['--pdeathsig', 'TERM', '--', path, '--version'], { timeout: 5000, stdio: 'ignore' })
    if (r.status === 0) return path
  }
  return null
}
