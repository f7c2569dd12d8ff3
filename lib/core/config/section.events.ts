import { bool, int, str } from './spec.ts'

/** Live events (SSE), notification channels and template builds. Owned by lib/events. */
export const events = {
  /** Events older than this leave the log (a reconnecting client cannot resume past it). */
  retentionHours: int(168, 1, 87_600, 'hours the event log keeps events for Last-Event-ID resume'),
  retentionIntervalMs: int(3_600_000, 1_000, 86_400_000),
  /** compat(wrenn): a `: keepalive` comment every 30 s. */
  heartbeatSec: int(30, 1, 3_600, 'seconds between SSE keepalive comments'),
  /** Sent as the SSE `retry:` field: how long an EventSource waits before it reconnects. */
  retryMs: int(3_000, 10, 600_000, 'reconnect delay SSE clients are told to use'),
  /** Bytes an SSE client may leave unread; past it the client catches up from the log at its own pace. */
  clientBufferKb: int(256, 4, 65_536, 'KiB of unread SSE output per client before it reads from the log instead of live'),
  /** A client whose buffer stays full this long is disconnected (it can resume with Last-Event-ID). */
  clientStallSec: int(30, 1, 3_600, 'seconds a client may leave its full buffer unread before it is disconnected'),
  channels: {
    /** AES-256-GCM key for channel secrets; empty = <dataDir>/channels.key, created on first use. */
    keyFile: str('', { allowEmpty: true, pattern: /^[^\0\n]+$/, patternDoc: 'a file path', doc: 'file with the 32-byte key encrypting channel secrets; empty = <dataDir>/channels.key' }),
    /** Destinations on loopback, private or link-local addresses are refused unless this is set. */
    allowPrivateDestinations: bool(false, 'allow channel destinations on loopback, private and link-local addresses'),
    maxAttempts: int(6, 1, 50, 'delivery attempts before a notification is given up'),
    retryBaseMs: int(5_000, 1, 3_600_000, 'first retry delay; doubles per attempt'),
    retryMaxMs: int(600_000, 1, 86_400_000, 'longest retry delay'),
    timeoutMs: int(10_000, 100, 300_000, 'timeout of one delivery request'),
    concurrency: int(8, 1, 256, 'deliveries in flight at once (one per channel at a time)'),
    /** Where provider webhook URLs must point; tests point them at local servers. */
    urls: {
      discord: str('https://discord.com/api/webhooks/', { doc: 'prefix every Discord webhook_url must start with' }),
      slack: str('https://hooks.slack.com/', { doc: 'prefix every Slack webhook_url must start with' }),
      googlechat: str('https://chat.googleapis.com/', { doc: 'prefix every Google Chat webhook_url must start with' }),
      teams: str('https://', { doc: 'prefix every Microsoft Teams webhook_url must start with (Workflows URLs vary by tenant)' }),
      telegram: str('https://api.telegram.org', { doc: 'Telegram Bot API base URL' }),
    },
  },
  builds: {
    concurrency: int(1, 1, 64, 'template builds running at once on this host'),
    stepTimeoutSec: int(600, 1, 86_400, 'default timeout of one RUN step'),
    maxLogBytes: int(256 * 1024, 1024, 64 * 1024 * 1024, 'output kept per build step'),
    healthcheckMaxSec: int(300, 1, 86_400, 'longest a build healthcheck keeps retrying'),
    /** ADD <url> may fetch from loopback/private addresses only when this is set. */
    allowPrivateUrls: bool(false, 'let build ADD steps fetch from loopback, private and link-local addresses'),
  },
}
