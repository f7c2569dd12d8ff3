/** `nestbox doctor`'s sandboxes line: the opencode binary sandboxes bind in, its version, and whether openclaw is installed yet. */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import type { Config } from '../core/config/index.ts'
import { findOpencode, openclawDirOf, openclawInstalledIn } from './packages.ts'

export function sandboxesCheck(cfg: Config['sandboxes'], dataDir: string) {
  return {
    name: 'sandboxes',
    required: false,
    run: (): string => {
      const oc = findOpencode(cfg.opencodeBin)
      const version = execFileSync(join(oc.dir, oc.file), ['--version'], { encoding: 'utf8', timeout: 15_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', OPENCODE_DISABLE_AUTOUPDATE: '1' } }).trim()
      const clawDir = openclawDirOf(cfg, dataDir)
      const claw = openclawInstalledIn(clawDir) ? `openclaw installed in ${clawDir}` : `openclaw ${cfg.openclawVersion} not installed yet (the first openclaw sandbox installs it)`
      return `opencode ${version} at ${oc.dir}; ${claw}`
    },
  }
}
