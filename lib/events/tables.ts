/** Kysely row types of the events domain (sqlite/0040_events.sql, 0041_channels.sql, 0042_builds.sql). */
import type { Generated } from 'kysely'

export interface EventRow {
  seq: Generated<number>
  team_id: string | null
  type: string
  data: string
  created_at: number
}


export interface ChannelRow {
  id: string
  team_id: string
  name: string
  provider: string
  events: string
  config: string
  created_by: string
  created_at: number
  updated_at: number
}

export interface DeliveryRow {
  id: string
  channel_id: string
  team_id: string
  event_seq: number
  event_type: string
  payload: string
  status: 'queued' | 'delivered' | 'failed'
  attempts: number
  next_attempt_at: number
  last_status: number | null
  last_error: string | null
  created_at: number
  updated_at: number
}

export type BuildStatus = 'queued' | 'running' | 'success' | 'failed' | 'cancelled'

export interface BuildRow {
  id: string
  name: string
  base_template: string
  recipe: string
  healthcheck: string
  vcpus: number | null
  memory_mb: number | null
  team_id: string
  created_by: string
  status: BuildStatus
  current_step: number
  total_steps: number
  logs: string
  error: string | null
  sandbox_id: string | null
  template_id: string | null
  created_at: number
  started_at: number | null
  completed_at: number | null
}

export interface EventsTables {
  events: EventRow
  channels: ChannelRow
  channel_deliveries: DeliveryRow
  template_builds: BuildRow
}
