/**
 * cloudflared as its documented CLI gives it: the command line for a quick or a
 * named tunnel, the facts its log lines carry, and the checks made before it is
 * started (so a bad path or an unreadable file stops nestbox with one line,
 * instead of a restart loop).
 */
import { spawnSync } from 'node:child_process'
import { accessSync, constants, readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import type { Config } from '../core/config/index.ts'
import { ConfigError } from '../core/config/index.ts'

export type CloudflaredConfig = Config['tunnel']['cloudflared']

export const executableOf = (c: CloudflaredConfig) => c.path || 'cloudflared'

/**
 * `cloudflared tunnel --no-autoupdate --url ORIGIN` (quick) or
 * `cloudflared tunnel --no-autoupdate --config FILE run [--credentials-file F] [--token-file F] [NAME]` (named).
 * `--grace-period` lets in-flight requests finish after SIGTERM, a little less than our wait before SIGKILL.
 */
export function cloudflaredArgs(c: CloudflaredConfig, originUrl: string): string[] {
  const args = ['tunnel', '--no-autoupdate', '--grace-period', `${Math.max(0, c.stopTimeoutMs - 500)}ms`]
  if (c.mode === 'quick') return [...args, '--url', originUrl]
  if (c.configFile) args.push('--config', c.configFile)
  args.push('run')
  if (c.credentialsFile) args.push('--credentials-file', c.credentialsFile)
  if (c.tokenFile) args.push('--token-file', c.tokenFile)
  if (c.name) args.push(c.name)
  return args
}

/** What one line of cloudflared's log says. Lines look like `2026-01-02T03:04:05Z INF message key=value`. */
export type LogLine = { level: 'debug' | 'info' | 'warn' | 'error'; message: string; url?: string; connected?: boolean }

const LEVELS: Record<string, LogLine['level']> = { DBG: 'debug', INF: 'info', WRN: 'warn', ERR: 'error', FTL: 'error' }
const PREFIX = /^\S+\s+(DBG|INF|WRN|ERR|FTL)\s+(.*)$/
// The quick tunnel's URL is printed alone inside an ASCII box ("|  https://x.trycloudflare.com  |"); error
// lines also name https://api.trycloudflare.com, so only a URL framed by the box counts.
const QUICK_URL = /\|\s+(https:\/\/[a-z0-9-]+\.trycloudflare\.com)\/?\s+\|/
// "Registered tunnel connection connIndex=0 ..." (2022+); older releases said "Connection <id> registered".
const CONNECTED = /Registered tunnel connection|Connection [0-9a-f-]+ registered/

export function parseLogLine(raw: string): LogLine {
  const line = raw.replace(/\x1b\[[0-9;]*m/g, '').trimEnd()
  const m = PREFIX.exec(line)
  const out: LogLine = m ? { level: LEVELS[m[1]], message: m[2] } : { level: 'info', message: line }
  const url = QUICK_URL.exec(line)?.[1]
  if (url) out.url = url
  if (CONNECTED.test(out.message)) out.connected = true
  return out
}

function readable(key: string, file: string): string {
  try {
    accessSync(file, constants.R_OK)
    return readFileSync(file, 'utf8')
  } catch (e) {
    throw new ConfigError(`config: tunnel.cloudflared.${key} ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
}

/**
 * Checks the named tunnel's files and returns the public URL its config.yml
 * routes to nestbox: the first ingress rule with a plain (non-wildcard)
 * hostname. null when there is none (a dashboard-managed tunnel keeps its
 * ingress at Cloudflare: set publicUrl then).
 */
export function namedTunnelUrl(c: CloudflaredConfig): string | null {
  if (c.credentialsFile) readable('credentialsFile', c.credentialsFile)
  if (c.tokenFile && !readable('tokenFile', c.tokenFile).trim()) throw new ConfigError(`config: tunnel.cloudflared.tokenFile ${c.tokenFile} is empty`)
  if (!c.configFile) return null
  let doc: unknown
  try {
    doc = parseYaml(readable('configFile', c.configFile))
  } catch (e) {
    if (e instanceof ConfigError) throw e
    throw new ConfigError(`config: tunnel.cloudflared.configFile ${c.configFile} is not valid YAML: ${(e as Error).message.split('\n')[0]}`)
  }
  if (doc == null || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config: tunnel.cloudflared.configFile ${c.configFile} must be a YAML mapping (tunnel, credentials-file, ingress)`)
  const cfg = doc as { tunnel?: unknown; ingress?: unknown }
  if (!c.name && !c.tokenFile && (typeof cfg.tunnel !== 'string' || !cfg.tunnel))
    throw new ConfigError(`config: tunnel.cloudflared.configFile ${c.configFile} names no tunnel (add "tunnel: <UUID or name>" or set tunnel.cloudflared.name)`)
  if (cfg.ingress !== undefined && !Array.isArray(cfg.ingress)) throw new ConfigError(`config: tunnel.cloudflared.configFile ${c.configFile}: ingress must be a list of rules`)
  const host = ((cfg.ingress ?? []) as Array<{ hostname?: unknown }>).map((r) => r?.hostname).find((h): h is string => typeof h === 'string' && h !== '' && !h.includes('*'))
  return host ? `https://${host}` : null
}

/** `cloudflared --version`'s first line, e.g. "cloudflared version 2025.11.1 (built 2025-11-07-16:59 UTC)"; throws a ConfigError when it cannot run. */
export function cloudflaredVersion(c: CloudflaredConfig, timeoutMs = 10_000): string {
  const exe = executableOf(c)
  const r = spawnSync(exe, ['--version'], { timeout: timeoutMs, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const first = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find(Boolean) ?? ''
  const where = c.path ? `at tunnel.cloudflared.path (${c.path})` : 'on PATH'
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOENT') throw new ConfigError(`config: tunnel.cloudflared is enabled but cloudflared was not found ${where}; install it from Cloudflare's packages (see README) or set tunnel.cloudflared.path`)
  if (code === 'EACCES') throw new ConfigError(`config: cloudflared ${where} is not executable`)
  if (r.error || r.status !== 0) throw new ConfigError(`config: \`${exe} --version\` failed: ${first || r.error?.message || `exit ${r.status}`}`)
  return first
}
