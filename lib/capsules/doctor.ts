/** `nestbox doctor`'s network line: which capsule network modes this host can give (runtime/network.ts). */
import { spawnSync } from 'node:child_process'
import type { NetworkMode } from './runtime/network.ts'

const version = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 })
  if (r.error || r.status !== 0) return null
  return (r.stdout || r.stderr).trim().split('\n')[0]
}

/** none and nestbox need nothing beyond nestbox-enter; internet needs pasta (passt) and nft. Required when the default mode is internet. */
export function networkCheck(defaultMode: NetworkMode) {
  return {
    name: 'network',
    required: defaultMode === 'internet',
    run: (): string => {
      const pasta = version('pasta', ['--version'])
      const nft = version('nft', ['--version'])
      // the filter must load in a network namespace of its own (the kernel's nf_tables)
      const filter = nft && spawnSync('unshare', ['--net', '--', 'nft', 'add table inet nestbox_doctor'], { timeout: 5000 }).status === 0
      const missing = [!pasta && 'pasta (passt)', !nft && 'nft (nftables)', nft && !filter && 'nf_tables in a network namespace'].filter(Boolean)
      const modes = `modes none, nestbox: available (default: ${defaultMode})`
      if (missing.length) throw new Error(`${modes}; internet unavailable: ${missing.join(', ')} missing (bin/deps.sh installs them)`)
      return `${modes}; internet: ${pasta}, ${nft}`
    },
  }
}
