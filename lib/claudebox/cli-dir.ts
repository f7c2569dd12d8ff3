/**
 * Where the Claude Code CLI is on this host: the native binary npm installed
 * with @anthropic-ai/claude-code (its per-platform optional package), bound
 * read-only into each workspace capsule. Or a directory set in claudebox.cliDir.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const PLATFORM_PACKAGES: Record<string, string[]> = {
  x64: ['@anthropic-ai/claude-code-linux-x64', '@anthropic-ai/claude-code-linux-x64-musl'],
  arm64: ['@anthropic-ai/claude-code-linux-arm64', '@anthropic-ai/claude-code-linux-arm64-musl'],
}

/** The host directory holding an executable `claude`, or null. */
export function findCliDir(configured: string): string | null {
  if (configured) return existsSync(join(configured, 'claude')) ? configured : null
  const req = createRequire(import.meta.url)
  for (const pkg of PLATFORM_PACKAGES[process.arch] ?? []) {
    try {
      const dir = dirname(req.resolve(`${pkg}/package.json`))
      if (existsSync(join(dir, 'claude'))) return dir
    } catch {
      // not installed for this platform
    }
  }
  return null
}
