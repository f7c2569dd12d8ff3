/**
 * Identity: accounts, sessions, API keys, teams, OAuth/OIDC and administration,
 * wired from their parts. `authenticateApiKey`, `authenticateSession` and `me`
 * are what the HTTP layer and other domains use most.
 */
import type { Config } from '../core/config/index.ts'
import type { Db } from '../core/db.ts'
import type { EventBus } from '../core/events.ts'
import type { Clock, IdGen } from '../core/ids.ts'
import type { Scheduler } from '../core/jobs.ts'
import type { Logger } from '../core/logger.ts'
import type { Principal } from '../core/principal.ts'
import type { SiteUrl } from '../core/site-url.ts'
import type { AuditLog } from '../events/audit.ts'
import { createAccountService } from './accounts.ts'
import { createAdminService } from './admin.ts'
import { createApiKeyService } from './api-keys.ts'
import type { IdentityDeps, Links } from './deps.ts'
import { createMailer, type Mailer } from './mailer.ts'
import { githubProvider } from './oauth/oauth-github.ts'
import { oidcProvider } from './oauth/oauth-oidc.ts'
import { createOAuthService } from './oauth/oauth.ts'
import { createSessionService } from './sessions.ts'
import { hardDeleteUser, listUsersDeletedBefore } from './store.ts'
import { deleteExpiredEmailTokens, deleteExpiredOAuthStates } from './store.tokens.ts'
import { createTeamService } from './teams.ts'

/** Deleted accounts are removed for good after this long. compat(wrenn 003) */
const PURGE_AFTER_MS = 15 * 86_400_000
/** Audited changes to these resources can change a cached key resolution or profile. */
const CACHE_AFFECTING = new Set(['api_key', 'member', 'team', 'user'])

/** What the identity service is built from: its dependencies, with the mailer optional (made from config when absent). */
export type IdentityInput = Omit<IdentityDeps, 'mailer' | 'links'> & { site: SiteUrl; dataDir: string; jobs?: Scheduler; mailer?: Mailer }

export function createIdentityService(input: IdentityInput) {
  const log = input.log.child({ mod: 'identity' })
  const mailer = input.mailer ?? createMailer({ config: input.config.mail, dataDir: input.dataDir, ids: input.ids, log })
  const { site } = input
  const appUrl = input.config.appUrl.replace(/\/+$/, '')
  // Getters: a server listening on port 0 learns its URL only once it listens.
  const links: Links = {
    get api() {
      return site.url
    },
    get app() {
      return appUrl || site.url
    },
  }
  const d: IdentityDeps = { db: input.db, clock: input.clock, ids: input.ids, audit: input.audit, bus: input.bus, log, config: input.config, mailer, links }

  const sessions = createSessionService(d)
  const accounts = createAccountService(d, sessions)
  const keys = createApiKeyService(d)
  const teams = createTeamService(d)
  const admin = createAdminService(d, accounts, sessions)
  const providers = [githubProvider(d.config.oauth.github), oidcProvider(d.config.oauth.oidc, log)].filter((p) => p !== null)
  const oauth = createOAuthService(d, accounts, providers)

  d.bus.subscribe((e) => {
    if (e.type === 'audit' && e.resourceType && CACHE_AFFECTING.has(e.resourceType)) {
      keys.invalidate()
      accounts.invalidateProfiles()
    }
  })

  /** Expired sessions, tokens and OAuth states; accounts deleted more than 15 days ago. */
  const sweep = async () => {
    const now = d.clock.now()
    const purged = await listUsersDeletedBefore(d.db, now - PURGE_AFTER_MS)
    for (const u of purged) await hardDeleteUser(d.db, u.id)
    return {
      sessions: await sessions.sweep(),
      emailTokens: await deleteExpiredEmailTokens(d.db, now),
      oauthStates: await deleteExpiredOAuthStates(d.db, now),
      usersPurged: purged.length,
    }
  }
  input.jobs?.add({ name: 'identity.sweep', everyMs: 10 * 60_000, run: sweep })

  return {
    sessions,
    accounts,
    keys,
    teams,
    admin,
    oauth,
    mailer,
    links,
    sweep,
    /** The principal for an API key, or null when it is malformed, unknown, or its team/user is gone. */
    authenticateApiKey: (key: string) => keys.authenticate(key),
    authenticateSession: sessions.authenticate,
    /** The caller's profile. */
    me: (p: Principal) => accounts.me(p),
  }
}
export type IdentityService = ReturnType<typeof createIdentityService>
