/**
 * Every process of a capsule, read from its cgroup and /proc: pid as seen inside,
 * the host pid (to signal it), command line and start time. Host-side helpers in
 * the cgroup (the entry chain, bwrap's monitor) and the capsule's own pid 1 and
 * anchor are not the capsule's processes and are left out.
 */
import { readFileSync, readlinkSync } from 'node:fs'
import { readFile } from 'node:fs/promises'

export type ProcEntry = { pid: number; hostPid: number; cmd: string; args: string[]; startedAt: number }

const CLK_TCK = 100
const bootTimeMs = (() => {
  try {
    return Number(/^btime (\d+)/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? 0) * 1000
  } catch {
    return 0
  }
})()

/** Start time of a host process in clock ticks since boot (field 22 of /proc/pid/stat). */
export function startTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
  } catch {
    return null
  }
}

export const pidNamespace = (pid: number): string | null => {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`)
  } catch {
    return null
  }
}

/** The capsule's processes among `hostPids` (its cgroup members), by inside pid. */
export async function listCapsuleProcs(hostPids: number[], pidns: string, infraInside: number[]): Promise<ProcEntry[]> {
  const out: ProcEntry[] = []
  await Promise.all(
    hostPids.map(async (hostPid) => {
      try {
        if (pidNamespace(hostPid) !== pidns) return
        const [status, cmdline, stat] = await Promise.all([
          readFile(`/proc/${hostPid}/status`, 'utf8'),
          readFile(`/proc/${hostPid}/cmdline`),
          readFile(`/proc/${hostPid}/stat`, 'utf8'),
        ])
        const ids = /^NSpid:\s+(.*)$/m.exec(status)?.[1].trim().split(/\s+/).map(Number) ?? []
        const pid = ids[ids.length - 1]
        if (ids.length < 2 || infraInside.includes(pid)) return
        const argv = cmdline.toString('utf8').split('\0')
        if (argv[argv.length - 1] === '') argv.pop()
        const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? ''
        const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
        out.push({ pid, hostPid, cmd: argv[0] ?? name, args: argv.slice(1), startedAt: Math.round(bootTimeMs + (ticks / CLK_TCK) * 1000) })
      } catch {
        // exited while we looked
      }
    }),
  )
  return out.sort((a, b) => a.pid - b.pid)
}
