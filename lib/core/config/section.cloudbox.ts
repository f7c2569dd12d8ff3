import { int, str, strList } from './spec.ts'

/** Repo runs and graded agent computers (lib/runs): the cloudbox API under /api. */
export const cloudbox = {
  /** Bearer / x-cloudbox-token of the cloudbox API; empty = generated at first start into bootstrap.txt (kept as a hash). */
  token: str('', { secret: true, allowEmpty: true, pattern: /^\S{16,}$/, patternDoc: 'at least 16 characters without spaces' }),
  /** Team the token acts for (a team id); empty = the first team (the first-start admin's). */
  team: str('', { allowEmpty: true, doc: 'team id the cloudbox token acts for' }),
  /** Hosts an https:// repository may come from (exact host names). */
  allowedHosts: strList(['github.com', 'gitlab.com'], 'hosts https:// repositories of runs may come from'),
  /** Host directories whose repositories (local paths or file:// URLs) runs may clone; bound read-only into the run's capsule. */
  localRoots: strList([], 'host directories holding repositories runs may clone from disk'),
  /** Stored runs are removed after this long. */
  retentionHours: int(24 * 30, 1, 87_600, 'hours a finished run is kept'),
  /** Runs of one nestbox at the same time; more wait their turn. */
  maxConcurrentRuns: int(8, 1, 256, 'runs executing at once'),
  /** A gateway model for collaborator replies (/ask) and brief drafts (/api/brief); empty = the deterministic ones. */
  model: str('', { allowEmpty: true, doc: 'gateway model for computers\' collaborator replies and brief drafts' }),
  /** Capsules kept booted per team and network mode for its next run (lib/runs/spares.ts); 0 = each run boots its own. */
  spareCapsules: int(1, 0, 8, 'capsules kept booted per team and network mode, ready for its next run (0 = none)'),
  /** A spare no run claimed for this long is destroyed. */
  spareIdleSec: int(600, 1, 86_400, 'seconds an unclaimed spare capsule is kept'),
  /** Memory of a run's capsule. */
  memoryMb: int(2048, 64, 1 << 20),
}
