/** Kysely row types of the events domain (sqlite/0040_events.sql, 0041_channels.sql, 0042_builds.sql). */
import type { Generated } from 'kysely'

export interface EventRow {
  seq: Generated<number>
  team_id: string | null
  type: string
  data: string
  created_at: number
}

export interface EventsTables {
  events: EventRow
}
