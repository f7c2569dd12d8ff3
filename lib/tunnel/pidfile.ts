/**
 * The running cloudflared, recorded in the data dir (pid and its start time in
 * /proc). A nestbox that died without stopping it (SIGKILL on a host without
 * setpriv) leaves the record behind; the next start ends that process group
 * before starting its own. The start time tells our cloudflared from an
 * unrelated process that got the same pid since.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { Logger } from '../core/logger.ts'

type Stat = { start: string; pgid: number }

/** Start time (clock ticks since boot) and process group of a live process, or null. */
function stat(pid: number): Stat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after "(comm)": state ppid pgrp session ... starttime is field 22 overall, 20th after comm.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
    if (f[0] === 'Z') return null
    return { start: f[19], pgid: Number(f[2]) }
  } catch {
    return null
  }
}

export function recordRun(file: string, pid: number): void {
  const s = stat(pid)
  if (s) writeFileSync(file, JSON.stringify({ pid, start: s.start }) + '\n', { mode: 0o600 })
}

export function clearRun(file: string): void {
  rmSync(file, { force: true })
}

/** Ends the process group a previous nestbox left running, if the record still names a live leader of it. Returns its pid. */
export function reapLeftover(file: string, log: Logger): number | null {
  let rec: { pid?: unknown; start?: unknown }
  try {
    rec = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    return null
  }
  clearRun(file)
  const pid = rec.pid
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1) return null
  const s = stat(pid)
  if (!s || s.start !== rec.start || s.pgid !== pid) return null
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    return null
  }
  log.warn('ended a cloudflared left running by a previous nestbox', { pid })
  return pid
}
