/** Wrenn (seed 003) wire shapes of capsules, templates, files, exec results and metrics. */
import { iso } from '../core/ids.ts'
import type { MetricPoint } from './metrics.ts'
import type { ExecResult, FileEntry, ProcessInfo } from './runtime/types.ts'
import type { CapsuleRow, TemplateRow } from './tables.ts'
import { SNAPSHOT_NOTE } from './templates.ts'

export function toWrennCapsule(r: CapsuleRow, extra: { lastActiveAt?: number | null; diskUsedBytes?: number | null } = {}) {
  return {
    id: r.id,
    team_id: r.team_id,
    status: r.status,
    template: r.template,
    vcpus: r.vcpus,
    memory_mb: r.memory_mb,
    timeout_sec: r.timeout_sec,
    // compat(wrenn): capsules of the process runtime have no address of their own on the host.
    guest_ip: '',
    host_ip: '',
    created_at: iso(r.created_at),
    started_at: iso(r.started_at),
    last_active_at: iso(extra.lastActiveAt !== undefined ? extra.lastActiveAt : r.last_active_at),
    last_updated: iso(r.updated_at),
    metadata: JSON.parse(r.metadata) as Record<string, string>,
    disk_size_mb: r.disk_size_mb,
    // nestbox extensions: what the capsule reaches, and which ports open without credentials
    network: r.network,
    allow_out: r.allow_out ? (JSON.parse(r.allow_out) as string[]) : null,
    public_ports: JSON.parse(r.public_ports) as number[],
    ...(extra.diskUsedBytes !== undefined ? { disk_used_mb: extra.diskUsedBytes == null ? null : Math.round((extra.diskUsedBytes / 1048576) * 100) / 100 } : {}),
    ...(r.error ? { error: r.error } : {}),
  }
}

export function toWrennTemplate(t: TemplateRow) {
  return {
    name: t.name,
    type: t.type,
    vcpus: t.vcpus,
    memory_mb: t.memory_mb,
    size_bytes: t.size_bytes,
    created_at: iso(t.created_at),
    platform: t.team_id === null,
    team_id: t.team_id,
    metadata: JSON.parse(t.metadata) as Record<string, string>,
    ...(t.type === 'snapshot' ? { note: SNAPSHOT_NOTE } : {}),
  }
}

const perm = (mode: number, type: FileEntry['type']) => {
  const bits = 'rwxrwxrwx'
  let s = type === 'dir' ? 'd' : type === 'symlink' ? 'l' : '-'
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : '-'
  return s
}

export function toWrennFileEntry(e: FileEntry & { symlinkTarget?: string | null; owner?: string; group?: string }) {
  return {
    name: e.name,
    path: e.path,
    type: e.type === 'dir' ? 'directory' : e.type,
    size: e.size,
    mode: e.mode & 0o7777,
    permissions: perm(e.mode, e.type),
    owner: e.owner ?? 'root',
    group: e.group ?? 'root',
    modified_at: Math.floor(e.modifiedAt / 1000),
    symlink_target: e.symlinkTarget ?? null,
  }
}

const isUtf8 = (b: Buffer) => Buffer.from(b.toString('utf8'), 'utf8').equals(b)

/** compat(wrenn): output is utf-8 text, or base64 (both streams) when either is not valid UTF-8. */
export function toWrennExec(capsuleId: string, cmd: string, r: ExecResult) {
  const binary = !isUtf8(r.stdout) || !isUtf8(r.stderr)
  const enc = binary ? 'base64' : 'utf8'
  return {
    sandbox_id: capsuleId,
    cmd,
    stdout: r.stdout.toString(enc),
    stderr: r.stderr.toString(enc),
    exit_code: r.exitCode,
    duration_ms: Math.round(r.durationMs),
    encoding: binary ? 'base64' : 'utf-8',
    ...(r.timedOut ? { timed_out: true } : {}),
  }
}

export const toWrennProcess = (p: ProcessInfo) => ({ pid: p.pid, tag: p.tag ?? '', cmd: p.cmd, args: p.args })

export const toWrennMetricPoint = (m: MetricPoint) => ({
  timestamp_unix: Math.floor(m.ts / 1000),
  cpu_pct: Math.round(m.cpuPct * 100) / 100,
  mem_bytes: Math.round(m.memBytes),
  disk_bytes: Math.round(m.diskBytes),
})
