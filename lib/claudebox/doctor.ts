/** `nestbox doctor`'s claude line: the Claude Code CLI claudebox binds into workspaces, and its version. */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { findCliDir } from './cli-dir.ts'

export function claudeCheck(c: { cliDir: string; enabled: boolean }) {
  return {
    name: 'claude',
    required: false,
    run: (): string => {
      const dir = findCliDir(c.cliDir)
      if (!dir) throw new Error(c.cliDir ? `no claude executable in claudebox.cliDir ${c.cliDir}` : 'the Claude Code CLI is not installed (npm ci installs @anthropic-ai/claude-code); /claudebox runs answer 503')
      const version = execFileSync(join(dir, 'claude'), ['--version'], { encoding: 'utf8', timeout: 15_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', DISABLE_AUTOUPDATER: '1' } }).trim()
      return `${version} at ${dir}${c.enabled ? '' : ' (claudebox is disabled)'}`
    },
  }
}
