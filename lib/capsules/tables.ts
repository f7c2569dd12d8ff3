/** Kysely row types of the capsule tables (sqlite/0020_capsules.sql). */
import type { Generated } from 'kysely'
import type { NetworkMode } from './runtime/network.ts'

export type CapsuleStatus = 'pending' | 'starting' | 'running' | 'pausing' | 'paused' | 'resuming' | 'snapshotting' | 'stopping' | 'stopped' | 'error'

export interface CapsuleRow {
  id: string
  team_id: string
  created_by: string
  template_id: string
  template: string
  status: CapsuleStatus
  vcpus: number
  memory_mb: number
  disk_size_mb: number
  timeout_sec: number
  metadata: string
  error: string | null
  created_at: number
  started_at: number | null
  last_active_at: number | null
  updated_at: number
  destroyed_at: number | null
  /** none | nestbox | internet (runtime/network.ts) */
  network: NetworkMode
  /** JSON array of CIDRs / host names; null: any outside address (mode internet) */
  allow_out: string | null
  /** JSON array of ports that open without credentials */
  public_ports: string
}

export interface TemplateRow {
  id: string
  team_id: string | null
  name: string
  type: 'base' | 'snapshot'
  vcpus: number | null
  memory_mb: number | null
  size_bytes: number
  root_dir: string | null
  source_capsule_id: string | null
  metadata: string
  created_at: number
}

export interface TransitionRow {
  seq: Generated<number>
  capsule_id: string
  team_id: string
  from_status: string
  to_status: string
  reason: string
  running: number
  vcpus: number
  memory_mb: number
  at: number
}

export interface MetricRow {
  capsule_id: string
  tier_sec: number
  ts: number
  cpu_pct: number
  mem_bytes: number
  disk_bytes: number
}

export interface UsageDailyRow {
  team_id: string
  day: string
  cpu_usec: number
  ram_mb_minutes: number
}

export interface CapsuleTables {
  capsules: CapsuleRow
  capsule_templates: TemplateRow
  capsule_transitions: TransitionRow
  capsule_metrics: MetricRow
  capsule_usage_daily: UsageDailyRow
}
