/** Kysely row types of the runs tables (sqlite/0050_runs.sql, 0051_computers.sql). */
export interface RunRow {
  id: string
  team_id: string
  repo: string
  /** running | passed | failed | error */
  status: string
  /** The validated request, JSON. */
  request: string
  /** The whole answer ({runId, ok, receipts, ...}) once finished, JSON. */
  result: string | null
  artifact_path: string | null
  /** The capsule kept for inspection (`keep: true`), else null. */
  capsule_id: string | null
  created_at: number
  finished_at: number | null
}

export interface CloudboxTokenRow {
  id: string
  token_hash: string
  team_id: string
  created_at: number
}

export interface ComputerRow {
  team_id: string
  id: string
  spec: string
  created_at: number
}

export interface ComputerReceiptRow {
  seq: number
  team_id: string
  computer_id: string
  ts: number
  kind: string
  payload: string
}

/** A file an agent wrote (kind agent-write), or its new body of a spec file. */
export interface ComputerFileRow {
  team_id: string
  computer_id: string
  path: string
  content: string
  written_at: number
}

export interface RunsTables {
  runs: RunRow
  cloudbox_tokens: CloudboxTokenRow
  computers: ComputerRow
  computer_receipts: Omit<ComputerReceiptRow, 'seq'> & { seq?: number }
  computer_files: ComputerFileRow
}
