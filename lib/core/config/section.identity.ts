import { bool, int, str } from './spec.ts'

const url = { pattern: /^https?:\/\/[^/\s]+(\/\S*)?$/, patternDoc: 'an http(s) URL', allowEmpty: true }

/** Identity settings (sessions, mail, rate limits, OAuth/OIDC). Owned by lib/identity. */
export const identity = {
  /** Base URL of the web app that email links and OAuth redirects point at; empty = the public URL (publicUrl, else the listen address). */
  appUrl: str('', url),
  sessions: {
    idleSec: int(6 * 3600, 1, 30 * 86400, 'a session unused this long expires'),
    absoluteSec: int(24 * 3600, 1, 365 * 86400, 'a session expires this long after login, used or not'),
  },
  mail: {
    from: str('nestbox <noreply@nestbox.local>'),
    /** SMTP server; empty = write each message to <dataDir>/outbox/*.eml and log it. */
    smtp: {
      host: str('', { allowEmpty: true }),
      port: int(587, 1, 65535),
      /** true = TLS from the first byte (port 465); false = STARTTLS when the server offers it. */
      secure: bool(false),
      user: str('', { allowEmpty: true }),
      password: str('', { secret: true, allowEmpty: true }),
    },
  },
  rateLimit: {
    windowSec: int(900, 1, 86400, 'window the limits below count in'),
    loginPerIp: int(30, 1, 1_000_000),
    /** Failed logins per account (email) per window. */
    loginPerAccount: int(10, 1, 1_000_000),
    signupPerIp: int(10, 1, 1_000_000),
    signupPerEmail: int(3, 1, 1_000_000),
    /** Take the client address from X-Forwarded-For (only behind a trusted reverse proxy). */
    trustForwardedFor: bool(false),
  },
  oauth: {
    github: {
      clientId: str('', { allowEmpty: true }),
      clientSecret: str('', { secret: true, allowEmpty: true }),
      /** https://github.com, or a GitHub Enterprise Server base URL. */
      baseUrl: str('https://github.com', url),
      /** REST API base; empty = https://api.github.com for github.com, else <baseUrl>/api/v3. */
      apiUrl: str('', url),
    },
    oidc: {
      /** Issuer URL (discovery at <issuer>/.well-known/openid-configuration); empty = disabled. */
      issuer: str('', url),
      clientId: str('', { allowEmpty: true }),
      clientSecret: str('', { secret: true, allowEmpty: true }),
      scopes: str('openid email profile'),
      /** Allow a plain-http issuer (development and tests only). */
      allowInsecure: bool(false),
    },
  },
}
