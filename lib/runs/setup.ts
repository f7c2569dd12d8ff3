/**
 * Wires the cloudbox API's runs: the token (configured, or generated at first
 * start into bootstrap.txt and kept as a hash) and its team, the runner over
 * capsules (with spare capsules booted ahead), the purge job, the computers,
 * and cleanup when a team is deleted.
 */
import type { Core } from '../core/wiring.ts'
import { appendFileSync, chmodSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ConfigError, type Config } from '../core/config/index.ts'
import type { Db } from '../core/db.ts'
import { sha256hex } from '../core/secrets.ts'
import type { CapsuleService } from '../capsules/service.ts'
import { createRunner } from './runner.ts'
import { createSpares } from './spares.ts'
import { createRuns, type Runs } from './service.ts'
import { createComputers, type Computers } from './computers.ts'
import { createModelClient } from './model.ts'
import type { Gateway } from '../gateway/setup.ts'
import { originUrl } from '../tunnel/setup.ts'
import { deleteTeamRuns, findToken, putTokenOnce } from './store.ts'
import { deleteTeamComputers } from './store.computers.ts'

export type RunsCore = Pick<Core, 'config' | 'dataDir' | 'db' | 'bus' | 'clock' | 'ids' | 'log' | 'jobs' | 'lifecycle'>

const teamExists = async (db: Db, id: string) => !!(await db.selectFrom('teams').select('id').where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst())
const firstTeam = (db: Db) => db.selectFrom('teams').select('id').where('deleted_at', 'is', null).orderBy('created_at').orderBy('id').limit(1).executeTakeFirst()

export type CloudboxService = Runs & { computers: Computers }

export function setupRuns(core: RunsCore, d: { capsules: CapsuleService; gateway: Gateway }): CloudboxService {
  const cfg = core.config.cloudbox
  const log = core.log.child({ mod: 'runs' })
  let token: { hash: string; teamId: string } | null = null
  // a run's clone, one command and its diff follow the boot back to back
  const spares = createSpares({ capsules: d.capsules, log, perKey: cfg.spareCapsules, idleMs: cfg.spareIdleSec * 1000, memoryMb: cfg.memoryMb, firstExecs: 3 })
  const runner = createRunner({ capsules: d.capsules, log, network: { https: 'internet', local: 'nestbox' }, memoryMb: cfg.memoryMb, spares })
  const runs = createRuns({
    db: core.db,
    clock: core.clock,
    ids: core.ids,
    log,
    runner,
    policy: { allowedHosts: cfg.allowedHosts, localRoots: cfg.localRoots },
    maxConcurrent: cfg.maxConcurrentRuns,
    retentionMs: cfg.retentionHours * 3_600_000,
    token: () => token,
  })

  core.lifecycle.onStart(async () => {
    await runs.recover()
    await spares.sweep().catch((err) => log.warn('spare capsules left by the last process not swept', { err }))
    if (cfg.team && !(await teamExists(core.db, cfg.team))) throw new ConfigError(`config: cloudbox.team ${cfg.team} is not a team`)
    const team = cfg.team || (await firstTeam(core.db))?.id
    if (cfg.token) {
      if (team) token = { hash: sha256hex(cfg.token), teamId: team }
      return
    }
    const kept = await findToken(core.db)
    if (kept) {
      token = { hash: kept.token_hash, teamId: cfg.team || kept.team_id }
      return
    }
    if (!team) return
    const plain = `cbt_${randomBytes(24).toString('hex')}`
    const row = await putTokenOnce(core.db, { id: 'cloudbox', token_hash: sha256hex(plain), team_id: team, created_at: core.clock.now() })
    token = { hash: row.token_hash, teamId: cfg.team || row.team_id }
    if (row.token_hash === sha256hex(plain)) {
      const file = join(core.dataDir, 'bootstrap.txt')
      appendFileSync(file, [`# cloudbox API token (/api/runs, /api/computers; Authorization: Bearer or x-cloudbox-token), acting for team ${team}`, `cloudbox_api_token=${plain}`].join('\n') + '\n', { mode: 0o600 })
      chmodSync(file, 0o600)
      log.info('cloudbox: generated token written to bootstrap.txt', { file })
    }
  })
  // Runs in flight are not waited for at shutdown (one may take many minutes): their capsules go with the
  // capsule service, and the next start marks them interrupted (runs.recover).
  core.lifecycle.onClosing(() => runs.closing())
  // before the capsule service stops (stop hooks run in reverse order of setup)
  core.lifecycle.onStop(() => spares.close())
  core.jobs.add({ name: 'runs.purge', everyMs: 3_600_000, run: () => runs.purge() })
  core.bus.subscribe((e) => {
    if (e.type !== 'team.delete' || !e.teamId) return
    void deleteTeamRuns(core.db, e.teamId).catch((err) => log.error('runs of a deleted team not removed', { err, team: e.teamId }))
    void deleteTeamComputers(core.db, e.teamId).catch((err) => log.error('computers of a deleted team not removed', { err, team: e.teamId }))
  })
  // the gateway is called over this server's own HTTP port, once it listens
  let self: string | null = null
  core.lifecycle.onListening((port) => (self = originUrl(core.config.listen.host, port)))
  const model = cfg.model ? createModelClient({ model: cfg.model, gateway: d.gateway, log, baseUrl: () => self }) : null
  return { ...runs, computers: createComputers({ db: core.db, clock: core.clock, model }) }
}
