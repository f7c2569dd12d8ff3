/** Runs a host program (mkfs, nft, ...) with a fixed PATH and no other environment; rejects with its stderr when it fails. */
import { spawn } from 'node:child_process'

export function runHostCommand(cmd: string, args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } })
    let err = ''
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed (exit ${code}): ${err.trim().slice(0, 300)}`))))
    child.stdin?.end(input)
  })
}
