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

export interface EventsTables {
  events: EventRow
  channels: ChannelRow
  channel_deliveries: DeliveryRow
}
