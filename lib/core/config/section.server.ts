import { int, oneOf, str } from './spec.ts'

export const server = {
  dataDir: str('./data', { doc: 'directory for the SQLite file and all data' }),
  listen: {
    host: str('0.0.0.0'),
    port: int(4000, 0, 65535),
  },
  /** Public base URL: email links, OAuth redirect_uri, presigned URLs; https makes cookies Secure. Empty = links use this start's listen address (never the request's Host); storage presigns for the host the client used. */
  publicUrl: str('', { pattern: /^https?:\/\/[^/]+(\/.*)?$/, patternDoc: 'an http(s) URL', allowEmpty: true }),
  /** Domain whose subdomains reach this nestbox (wildcard DNS or a tunnel): `{port}-{capsule}.{baseDomain}` opens a capsule's port. Empty = path-based port URLs only. */
  baseDomain: str('', { pattern: /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(:\d{1,5})?$/, patternDoc: 'a lower-case domain name, optionally with :port', allowEmpty: true }),
  logLevel: oneOf('info', ['debug', 'info', 'warn', 'error'] as const),
  http: {
    /** Largest JSON/form body accepted by ordinary API routes. Streaming uploads have their own limits. */
    bodyLimitMb: int(10, 1, 1024),
    /** How long shutdown waits for in-flight requests before closing them. */
    shutdownTimeoutMs: int(10_000, 0, 600_000),
  },
  bootstrap: {
    adminEmail: str('admin@nestbox.local', { pattern: /^[^@\s]+@[^@\s]+$/, patternDoc: 'an email address' }),
  },
}
