/**
 * Each provider's configuration fields and its request in the provider's own wire
 * format: Discord/Slack/Google Chat/Teams incoming webhooks, Telegram Bot API
 * sendMessage, Matrix client-server m.room.message, and a generic signed webhook.
 * compat(wrenn): config fields and the webhook's X-Wrenn-* headers follow Wrenn.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import type { Config } from '../../core/config/index.ts'
import { invalid } from '../../core/errors.ts'
import { parseDestination } from './destination.ts'

export const PROVIDERS = ['discord', 'slack', 'teams', 'googlechat', 'telegram', 'matrix', 'webhook'] as const
export type ProviderName = (typeof PROVIDERS)[number]
export type ChannelConfig = Record<string, string>
export type OutRequest = { method: 'POST' | 'PUT'; url: string; headers: Record<string, string>; body: string }
type Settings = Config['events']['channels']

const FIELDS: Record<ProviderName, { required: string[]; optional: string[] }> = {
  discord: { required: ['webhook_url'], optional: [] },
  slack: { required: ['webhook_url'], optional: [] },
  teams: { required: ['webhook_url'], optional: [] },
  googlechat: { required: ['webhook_url'], optional: [] },
  telegram: { required: ['bot_token', 'chat_id'], optional: [] },
  matrix: { required: ['homeserver_url', 'access_token', 'room_id'], optional: [] },
  webhook: { required: ['url'], optional: ['secret'] },
}

const PREFIX: Partial<Record<ProviderName, keyof Settings['urls']>> = { discord: 'discord', slack: 'slack', teams: 'teams', googlechat: 'googlechat' }

export const isProvider = (p: unknown): p is ProviderName => typeof p === 'string' && (PROVIDERS as readonly string[]).includes(p)

/**
 * Validates a config for `provider` (every field a string, required ones present,
 * no unknown ones, URLs allowed). A webhook without a secret gets a generated one.
 */
export function normalizeConfig(provider: ProviderName, raw: unknown, s: Settings): ChannelConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('config must be an object of strings', 'invalid_config')
  const f = FIELDS[provider]
  const cfg: ChannelConfig = {}
  for (const [k, v] of Object.entries(raw)) {
    if (![...f.required, ...f.optional].includes(k)) throw invalid(`config.${k.slice(0, 64)} is not a ${provider} field (expected ${[...f.required, ...f.optional].join(', ')})`, 'invalid_config')
    if (typeof v !== 'string' || v.length > 2048) throw invalid(`config.${k} must be a string of at most 2048 characters`, 'invalid_config')
    cfg[k] = v.trim()
  }
  for (const k of f.required) if (!cfg[k]) throw invalid(`config.${k} is required for ${provider}`, 'invalid_config')
  const prefixKey = PREFIX[provider]
  if (prefixKey) {
    parseDestination(cfg.webhook_url, 'config.webhook_url', s.allowPrivateDestinations)
    if (!cfg.webhook_url.startsWith(s.urls[prefixKey])) throw invalid(`config.webhook_url must start with ${s.urls[prefixKey]}`, 'invalid_config')
  }
  if (provider === 'telegram' && !/^\d+:[A-Za-z0-9_-]+$/.test(cfg.bot_token)) throw invalid('config.bot_token must look like 123456:ABC-DEF…', 'invalid_config')
  if (provider === 'matrix') {
    parseDestination(cfg.homeserver_url, 'config.homeserver_url', s.allowPrivateDestinations)
    if (!/^![^:]+:.+$/.test(cfg.room_id)) throw invalid('config.room_id must be a Matrix room id (!id:server)', 'invalid_config')
  }
  if (provider === 'webhook') {
    parseDestination(cfg.url, 'config.url', s.allowPrivateDestinations)
    if (!cfg.secret) cfg.secret = randomBytes(32).toString('hex')
    else if (cfg.secret.length < 16) throw invalid('config.secret must be at least 16 characters', 'invalid_config')
  }
  return cfg
}

type Payload = { event?: string; outcome?: string; error?: string; resource?: { id?: string; type?: string }; actor?: { name?: string; type?: string }; metadata?: Record<string, string>; team_id?: string | null; timestamp?: string }

/** The human-readable text the chat providers get (Wrenn: the same fields, rendered as text). */
export function formatMessage(p: Payload): string {
  const failed = p.outcome === 'error'
  const lines = [`${failed ? '❌' : '✅'} ${p.event}${p.outcome ? (failed ? ' failed' : ' succeeded') : ''}`]
  if (p.resource?.id) lines.push(`${p.resource.type || 'resource'}: ${p.resource.id}`)
  if (p.actor?.name) lines.push(`by: ${p.actor.name} (${p.actor.type})`)
  if (failed && p.error) lines.push(`error: ${p.error}`)
  for (const [k, v] of Object.entries(p.metadata ?? {}).slice(0, 10)) lines.push(`${k}: ${v}`)
  if (p.team_id) lines.push(`team: ${p.team_id}`)
  if (p.timestamp) lines.push(p.timestamp)
  return lines.join('\n')
}

const json = (url: string, body: unknown, headers: Record<string, string> = {}, method: 'POST' | 'PUT' = 'POST'): OutRequest => ({
  method,
  url,
  headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  body: JSON.stringify(body),
})

/** The HTTP request delivering `payload` (its JSON text) through a channel; `deliveryId` makes Matrix sends idempotent. */
export function buildRequest(provider: ProviderName, cfg: ChannelConfig, payload: string, deliveryId: string, s: Settings, now: Date): OutRequest {
  const text = () => formatMessage(JSON.parse(payload) as Payload)
  switch (provider) {
    case 'discord':
      return json(cfg.webhook_url, { content: text().slice(0, 2000), allowed_mentions: { parse: [] } })
    case 'slack':
      return json(cfg.webhook_url, { text: text() })
    case 'googlechat':
      return json(cfg.webhook_url, { text: text() })
    case 'teams':
      return json(cfg.webhook_url, {
        type: 'message',
        attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body: [{ type: 'TextBlock', text: text(), wrap: true }] } }],
      })
    case 'telegram':
      return json(`${s.urls.telegram.replace(/\/$/, '')}/bot${cfg.bot_token}/sendMessage`, { chat_id: cfg.chat_id, text: text().slice(0, 4096), disable_web_page_preview: true })
    case 'matrix': {
      const base = cfg.homeserver_url.replace(/\/$/, '')
      return json(`${base}/_matrix/client/v3/rooms/${encodeURIComponent(cfg.room_id)}/send/m.room.message/${encodeURIComponent(deliveryId)}`, { msgtype: 'm.text', body: text() }, { authorization: `Bearer ${cfg.access_token}` }, 'PUT')
    }
    case 'webhook': {
      const ts = now.toISOString().replace(/\.\d{3}Z$/, 'Z')
      const signature = 'sha256=' + createHmac('sha256', cfg.secret).update(`${ts}.${payload}`).digest('hex')
      return { method: 'POST', url: cfg.url, headers: { 'content-type': 'application/json', 'x-wrenn-delivery': randomUUID(), 'x-wrenn-timestamp': ts, 'x-wrenn-signature': signature }, body: payload }
    }
  }
}

/** Which URL of a config is the destination (checked again at send time). */
export const destinationOf = (provider: ProviderName, cfg: ChannelConfig, s: Settings) =>
  provider === 'telegram' ? s.urls.telegram : provider === 'matrix' ? cfg.homeserver_url : provider === 'webhook' ? cfg.url : cfg.webhook_url
