/**
 * How each sandbox type's service runs in its capsule (seed WIRE.md, agentserver):
 * its port, the host directories bound in, its command and environment, and the
 * credential nestbox injects toward it. Models are reached only through nestbox's
 * /proxy/anthropic with the sandbox's own proxy token.
 */
import type { SandboxType } from './tables.ts'

export const OPENCODE_DIR_INSIDE = '/opt/nestbox/opencode'
export const OPENCLAW_DIR_INSIDE = '/opt/nestbox/openclaw'
export const NODE_DIR_INSIDE = '/opt/nestbox/node'
export const WORKDIR = '/home/user/work'

/** opencode's Basic credential for its OPENCODE_SERVER_PASSWORD (user `opencode`, its default). */
export const opencodeAuthorization = (password: string) => `Basic ${Buffer.from(`opencode:${password}`).toString('base64')}`

/** What a launch needs: the sandbox's tokens, where nestbox is, and the browser origin of its subdomain (if any). */
export type LaunchInput = { proxyToken: string; serviceToken: string; nestboxUrl: string; origin: string | null; model: string }
/** Host paths the launcher binds (resolved by setup: bundled packages or configured). */
export type HostPaths = { opencode: () => { dir: string; file: string }; openclawDir: () => Promise<string>; nodeDir: () => string }

export type Launcher = {
  port: number
  /** Answers 200 (with the credential) once the service is ready: readiness, not just a listening socket. */
  healthPath: string
  binds(paths: HostPaths): Promise<Array<{ source: string; path: string }>>
  command(i: LaunchInput, paths: HostPaths): { cmd: string; args: string[]; envs: Record<string, string>; cwd: string }
  /** The Authorization header the subdomain proxy puts on requests toward the service. */
  authorization(serviceToken: string): string
  /** Whether the proxy adds X-Forwarded-For/Host/Proto (openclaw answers 403 "proxy attribution required" when it cannot place every hop). */
  forwardedHeaders: boolean
}

const opencode: Launcher = {
  port: 4096,
  healthPath: '/global/health',
  binds: async (p) => [{ source: p.opencode().dir, path: OPENCODE_DIR_INSIDE }],
  command: (i, p) => ({
    cmd: `${OPENCODE_DIR_INSIDE}/${p.opencode().file}`,
    args: ['serve', '--hostname', '0.0.0.0', '--port', '4096'],
    cwd: WORKDIR,
    envs: {
      OPENCODE_SERVER_PASSWORD: i.serviceToken,
      OPENCODE_DISABLE_AUTOUPDATE: '1',
      // its built-in model list is used; models.dev is not fetched (capsules reach no internet)
      OPENCODE_DISABLE_MODELS_FETCH: '1',
      OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
      OPENCODE_CONFIG_CONTENT: JSON.stringify({
        $schema: 'https://opencode.ai/config.json',
        autoupdate: false,
        share: 'disabled',
        model: `anthropic/${i.model}`,
        provider: { anthropic: { options: { baseURL: `${i.nestboxUrl}/proxy/anthropic/v1`, apiKey: i.proxyToken } } },
      }),
    },
  }),
  authorization: opencodeAuthorization,
  forwardedHeaders: true,
}

/** openclaw.json: local gateway mode behind nestbox's proxy, the anthropic provider through nestbox, the subdomain as an allowed Control UI origin. */
function openclawConfig(i: LaunchInput) {
  return {
    gateway: { mode: 'local', port: 18789, bind: 'lan', auth: { mode: 'token' }, ...(i.origin ? { controlUi: { allowedOrigins: [i.origin] } } : {}) },
    models: { providers: { anthropic: { baseUrl: `${i.nestboxUrl}/proxy/anthropic`, apiKey: i.proxyToken, models: [] } } },
    agents: { defaults: { model: { primary: `anthropic/${i.model}` }, workspace: WORKDIR } },
  }
}

const openclaw: Launcher = {
  port: 18789,
  healthPath: '/health',
  binds: async (p) => [
    { source: await p.openclawDir(), path: OPENCLAW_DIR_INSIDE },
    { source: p.nodeDir(), path: NODE_DIR_INSIDE },
  ],
  command: (i) => ({
    cmd: '/bin/sh',
    // the config is written into the capsule's own home, then the gateway replaces the shell
    args: ['-c', `mkdir -p "$HOME/.openclaw" && printf '%s' "$NESTBOX_OPENCLAW_CONFIG" > "$HOME/.openclaw/openclaw.json" && exec ${NODE_DIR_INSIDE}/node ${OPENCLAW_DIR_INSIDE}/node_modules/openclaw/openclaw.mjs gateway run --port 18789 --bind lan`],
    cwd: WORKDIR,
    envs: {
      OPENCLAW_GATEWAY_TOKEN: i.serviceToken,
      NESTBOX_OPENCLAW_CONFIG: JSON.stringify(openclawConfig(i)),
      PATH: `${NODE_DIR_INSIDE}:/usr/local/bin:/usr/bin:/bin`,
    },
  }),
  authorization: (token) => `Bearer ${token}`,
  // its requests come from the capsule's loopback through the relay; nestbox has already checked who may reach it
  forwardedHeaders: false,
}

export const LAUNCHERS: Record<SandboxType, Launcher> = { opencode, openclaw }
