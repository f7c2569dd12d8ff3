/**
 * Wires the claudebox surfaces: /claudebox/ and /claudebox-zai/, each with its
 * token (configured, or generated at first start into bootstrap.txt and kept as
 * a hash), its team, its model aliases, its workspaces and runs; the jobs that
 * pause idle workspaces and purge unread results.
 */
import type { Core } from '../core/wiring.ts'
import { appendFileSync, chmodSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ConfigError, type Config } from '../core/config/index.ts'
import { sha256hex } from '../core/secrets.ts'
import type { CapsuleService } from '../capsules/service.ts'
import type { Gateway } from '../gateway/setup.ts'
import type { IdentityService } from '../identity/service.ts'
import { findCliDir } from './cli-dir.ts'
import { createRunEngine } from './runs.ts'
import { createClaudebox, type Claudebox } from './service.ts'
import { deleteTeamWorkspaces, findToken, firstTeam, putTokenOnce, teamExists } from './store.ts'
import { createWorkspaces } from './workspaces.ts'
import { chatCompletions } from './routes.openai.ts'
import { roleAtLeast } from '../core/principal.ts'

export type ClaudeboxCore = Pick<Core, 'config' | 'dataDir' | 'db' | 'bus' | 'clock' | 'ids' | 'log' | 'jobs' | 'lifecycle'>

export type ClaudeboxSurfaces = { main: Claudebox | null; zai: Claudebox | null }

export function setupClaudebox(core: ClaudeboxCore, d: { identity: IdentityService; capsules: CapsuleService; gateway: Gateway }): ClaudeboxSurfaces {
  const cfg = core.config.claudebox
  const log = core.log.child({ mod: 'claudebox' })
  let cliDir: string | null | undefined
  const cli = () => (cliDir === undefined ? (cliDir = findCliDir(cfg.cliDir)) : cliDir)
  if (cfg.cliDir && !findCliDir(cfg.cliDir)) throw new ConfigError(`config: claudebox.cliDir ${cfg.cliDir} has no claude executable`)

  const make = (name: string, icfg: Config['claudebox']['zai']): Claudebox | null => {
    if (!icfg.enabled) return null
    let token: { hash: string; teamId: string } | null = null
    const workspaces = createWorkspaces({ db: core.db, capsules: d.capsules, clock: core.clock, ids: core.ids, log, instance: name, memoryMb: cfg.memoryMb, vcpus: cfg.vcpus, cliDir: cli })
    const engine = createRunEngine({ capsules: d.capsules, gateway: d.gateway, workspaces, log, now: core.clock.now, models: icfg.models, defaultModel: icfg.defaultModel, runTimeoutMs: cfg.runTimeoutSec * 1000 })
    const svc = createClaudebox({ name, db: core.db, identity: d.identity, capsules: d.capsules, workspaces, engine, models: icfg.models, token: () => token, resultTtlMs: cfg.resultTtlSec * 1000 })

    core.lifecycle.onStart(async () => {
      if (icfg.team && !(await teamExists(core.db, icfg.team))) throw new ConfigError(`config: ${name === 'claudebox' ? 'claudebox.team' : 'claudebox.zai.team'} ${icfg.team} is not a team`)
      const team = icfg.team || (await firstTeam(core.db))?.id
      if (icfg.token) {
        if (team) token = { hash: sha256hex(icfg.token), teamId: team }
        return
      }
      const stored = await findToken(core.db, name)
      if (stored) {
        token = { hash: stored.token_hash, teamId: icfg.team || stored.team_id }
        return
      }
      if (!team) return
      const plain = `cbx_${randomBytes(24).toString('hex')}`
      const row = await putTokenOnce(core.db, { instance: name, token_hash: sha256hex(plain), team_id: team, created_at: core.clock.now() })
      token = { hash: row.token_hash, teamId: icfg.team || row.team_id }
      if (row.token_hash === sha256hex(plain)) {
        const file = join(core.dataDir, 'bootstrap.txt')
        const varName = name === 'claudebox' ? 'claudebox_api_token' : 'claudebox_zai_api_token'
        appendFileSync(file, [`# /${name}/ token (Authorization: Bearer), acting for team ${team}`, `${varName}=${plain}`].join('\n') + '\n', { mode: 0o600 })
        chmodSync(file, 0o600)
        log.info('claudebox: generated token written to bootstrap.txt', { surface: name, file })
      }
    })
    core.jobs.add({ name: `${name}.idle`, everyMs: Math.min(30_000, cfg.idleSec * 500), run: () => workspaces.pauseIdle(cfg.idleSec * 1000, (ws) => engine.isBusy(ws.team_id, ws.name)) })
    core.jobs.add({ name: `${name}.results`, everyMs: 60_000, run: () => svc.purge() })
    core.lifecycle.onStop(() => engine.stopAll())
    return svc
  }

  core.bus.subscribe((e) => {
    if (e.type === 'team.delete' && e.teamId) void deleteTeamWorkspaces(core.db, e.teamId).catch((err) => log.error('claudebox: team workspaces not removed', { err, team: e.teamId }))
  })
  const surfaces = { main: make('claudebox', cfg), zai: make('claudebox-zai', cfg.zai) }
  // compat(claudebox 000): the gateway's claudebox-{alias} (main surface) and claudebox-{model} (zai) models
  const serve = (cb: Claudebox | null, names: string[]) => {
    if (!cb || !names.length) return
    d.gateway.localModels.register(
      names.map((n) => `claudebox-${n}`),
      async (c, caller, body) => chatCompletions(c, cb, caller.teamId ? { teamId: caller.teamId, canWrite: caller.role === null || roleAtLeast(caller.role, 'member') } : cb.callerOf(null), body),
    )
  }
  serve(surfaces.main, Object.keys(cfg.models))
  serve(surfaces.zai, [...new Set(Object.values(cfg.zai.models))].filter((m) => !Object.keys(cfg.models).includes(m)))
  return surfaces
}
