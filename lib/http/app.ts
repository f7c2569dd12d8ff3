/** Assembles the one Hono app: shared middleware, then each surface at its prefix. */
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { identityRoutesV1 } from '../identity/routes/routes.v1.ts'
import { capsuleRoutesV1, templateRoutesV1 } from '../capsules/routes.v1.ts'
import { portHost, portHostRouting, portRoutesV1 } from '../capsules/routes.ports.ts'
import { oauthRoutesWrenn } from '../identity/routes/routes.oauth.ts'
import { workspaceAuthRoutes, workspaceRoutes } from '../identity/routes/routes.api.ts'
import { auditRoutesV1 } from '../events/routes.v1.ts'
import { eventStreamDirect, eventStreamRoutesV1 } from '../events/routes.v1-stream.ts'
import { channelRoutesV1 } from '../events/routes.v1-channels.ts'
import { buildRoutesV1 } from '../events/routes.v1-builds.ts'
import { storageRoutes } from '../storage/mount.ts'
import { storageError } from '../storage/errors.ts'
import { gatewayRoutes } from '../gateway/routes.ts'
import { tunnelRoutesV1 } from '../tunnel/routes.v1.ts'
import { agentRoutesApi } from '../tunnel/routes.agent.ts'
import { claudeboxSurface } from '../claudebox/routes.ts'
import { openaiError } from '../claudebox/routes.openai.ts'
import { runRoutes } from '../runs/routes.api.ts'
import { cloudboxError, CLOUDBOX_PREFIXES } from '../runs/errors.ts'
import { mcpRoutes } from '../mcp/routes.mcp.ts'
import { sandboxRoutes } from '../sandboxes/routes.api.ts'
import { sandboxHostUpgrades } from '../sandboxes/routes.subdomain.ts'
import { browserRoutes } from '../browser/routes.ts'
import { BROWSER_PREFIX, browserError } from '../browser/http.ts'
import { VERSION } from '../core/version.ts'
import { tooLarge, notFound } from '../core/errors.ts'
import { accountAuth, headerPrincipal } from './auth.ts'
import { createErrorHandler, plainError, wrennError, type SurfaceErrors } from './errors.ts'
import { healthRoutes } from './health.ts'
import type { DirectRoute } from './node-server.ts'
import { surfaceEntry, withEntry } from './surface.ts'
import type { Services } from './services.ts'
import type { AppEnv } from './types.ts'

/** Routes that stream request bodies with limits of their own and must not be capped by the JSON limit. */
const STREAMING_UPLOADS = [/^\/storage\//, /\/files\/stream\/write$/, /\/files\/write$/, /^\/claudebox(-zai)?\/files\//, /^\/v1\/capsules\/[^/]+\/ports\/\d+(\/|$)/]

/** Envelope per path prefix (longest wins). Unlisted paths use the Wrenn envelope. */
const SURFACE_ERRORS: SurfaceErrors = [
  { prefix: '/v1/', render: wrennError },
  { prefix: '/auth/oauth/', render: wrennError },
  { prefix: '/api/', render: plainError },
  { prefix: '/storage', render: storageError },
  { prefix: '/claudebox/', render: plainError },
  { prefix: '/claudebox-zai/', render: plainError },
  { prefix: '/claudebox/openai/', render: openaiError },
  { prefix: '/claudebox-zai/openai/', render: openaiError },
  ...CLOUDBOX_PREFIXES.map((prefix) => ({ prefix, render: cloudboxError })),
  { prefix: `${BROWSER_PREFIX}/`, render: browserError },
]

export function createApp(s: Services & { startedAt: number; dbOk: () => boolean }) {
  const app = new Hono<AppEnv>()
  const limit = bodyLimit({ maxSize: s.config.http.bodyLimitMb * 1024 * 1024, onError: () => { throw tooLarge() } })

  // {oc|claw}-{sandbox}.{baseDomain}: a sandbox's service (HTTP is served before Hono, createDirectRoutes; WebSockets here)
  if (s.config.baseDomain) app.use('*', sandboxHostUpgrades(s.sandboxes.proxy))
  // {port}-{capsule}.{baseDomain}: the whole host belongs to a capsule's port (routes.ports.ts)
  if (s.config.baseDomain) app.use('*', portHostRouting(s.capsules, s.config.baseDomain, surfaceEntry(s.log, { authenticate: accountAuth(s.identity, 'wrenn') })))
  app.route('/', healthRoutes({ version: VERSION, startedAt: s.startedAt, dbOk: s.dbOk }))

  // Every other route is behind its surface's entry: request context, JSON body limit, then the surface's authentication.
  const limits = { limit, skip: STREAMING_UPLOADS }
  const anonymousEntry = surfaceEntry(s.log, { bodyLimit: limits })

  // LLM gateway (seed 000, LiteLLM; body limits and keys of its own): its /v1/chat/completions, /v1/models, /v1/messages... are matched before Wrenn's /v1 routes, and answer in their own envelopes.
  app.route('/', withEntry(gatewayRoutes(s.gateway, { log: s.log, maxBodyBytes: s.config.gateway.maxRequestBodyMb * 1024 * 1024 }), surfaceEntry(s.log)))

  // Wrenn surface (seed 003). Each domain mounts its /v1 routes here, one line each.
  const v1 = new Hono<AppEnv>()
  v1.route('/', identityRoutesV1(s))
  v1.route('/capsules', portRoutesV1(s.capsules, { publicUrl: () => s.site.url, baseDomain: s.config.baseDomain }))
  v1.route('/capsules', capsuleRoutesV1(s.capsules, 'team'))
  v1.route('/snapshots', templateRoutesV1(s.capsules, 'team'))
  v1.route('/admin/capsules', capsuleRoutesV1(s.capsules, 'admin'))
  v1.route('/admin/templates', templateRoutesV1(s.capsules, 'admin'))
  v1.route('/', auditRoutesV1(s.audit))
  v1.route('/', eventStreamRoutesV1(s.events))
  v1.route('/channels', channelRoutesV1(s.channels))
  v1.route('/admin/builds', buildRoutesV1(s.builds))
  v1.route('/', tunnelRoutesV1(s.tunnel))
  app.route('/v1', withEntry(v1, surfaceEntry(s.log, { bodyLimit: limits, authenticate: accountAuth(s.identity, 'wrenn') })))
  app.route('/auth/oauth', withEntry(oauthRoutesWrenn(s), anonymousEntry))

  // Workspace API surface (seed 001): session cookie or API key on every /api path.
  const api = new Hono<AppEnv>()
  api.route('/auth', workspaceAuthRoutes(s))
  api.route('/', sandboxRoutes(s.sandboxes.service, s.sandboxes.entry, s.sandboxes.scheme))
  api.route('/workspaces', workspaceRoutes(s))
  api.route('/', agentRoutesApi(s.agents, s.agentTunnels))
  api.route('/', runRoutes(s.runs)) // cloudbox (seed 002): its own token, or a nestbox key
  app.route('/api', withEntry(api, surfaceEntry(s.log, { bodyLimit: limits, authenticate: accountAuth(s.identity, 'workspace') })))

  // Other surfaces mount here, one line each.
  app.route('/storage', withEntry(storageRoutes(s.storage, { publicUrl: () => (s.site.source === 'listen' ? '' : s.site.url), virtualHostDomain: s.config.storage.virtualHostDomain }), anonymousEntry))
  // claudebox (seed 000): before the MCP hub, so /claudebox/mcp/ is claudebox's own
  if (s.claudebox.main) app.route('/claudebox', withEntry(claudeboxSurface(s.claudebox.main, s.log), surfaceEntry(s.log, { bodyLimit: limits })))
  if (s.claudebox.zai) app.route('/claudebox-zai', withEntry(claudeboxSurface(s.claudebox.zai, s.log), surfaceEntry(s.log, { bodyLimit: limits })))

  // browser cluster (seed 000): its token or a key of its team; before the MCP hub, so /stealthy-auto-browse/mcp/ is its own
  if (s.browser) app.route('/', withEntry(browserRoutes(s.browser.pool, s.browser.auth, s.log), surfaceEntry(s.log, { bodyLimit: limits })))

  // MCP hub (seed 000): /mcp/ and /{server}/mcp; a service that serves its own /{name}/mcp (storage, claudebox) keeps it.
  app.route('/', withEntry(mcpRoutes(s.mcp, { gateway: s.gateway, identity: s.identity, log: s.log, publicUrl: () => (s.site.source === 'listen' ? '' : s.site.url) }), surfaceEntry(s.log)))

  app.notFound(() => {
    throw notFound('no such endpoint', 'not_found')
  })
  app.onError(createErrorHandler(SURFACE_ERRORS, s.log))
  return app
}
export type App = ReturnType<typeof createApp>

/** Routes served on Node's request before the app (node-server.ts): the event streams. A capsule port's host is never theirs. */
export function createDirectRoutes(s: Services): DirectRoute {
  const streams = eventStreamDirect(s.events, headerPrincipal(s.identity, 'wrenn'), s.log)
  const base = s.config.baseDomain
  const sandboxHosts = s.sandboxes.proxy
  return base ? (req, res) => (portHost(req.headers.host, base) ? false : req.headers.upgrade ? streams(req, res) : sandboxHosts.serveHttp(req, res) || streams(req, res)) : streams
}
