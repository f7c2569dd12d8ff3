import { bool, int, str } from './spec.ts'

/** The browser cluster (lib/browser): /stealthy-auto-browse/, a pool of Chromium replicas, each in a capsule of its own. */
export const browser = {
  enabled: bool(true),
  /** Bearer token of /stealthy-auto-browse/; empty = generated at first start into bootstrap.txt (kept as a hash). */
  token: str('', { secret: true, allowEmpty: true, pattern: /^\S{16,}$/, patternDoc: 'at least 16 characters without spaces' }),
  /** Team the pool's capsules belong to and its token acts for (a team id); empty = the first team. Only this team's API keys are let in. */
  team: str('', { allowEmpty: true, doc: 'team id the pool belongs to' }),
  /** Browser replicas at most (each started on first need, then kept). compat(stealthy-auto-browse 000): 5. */
  replicas: int(5, 1, 64),
  /** Memory of one replica's capsule (Xvfb + Chromium); a replica that exceeds it is replaced. compat: 256 MB. */
  memoryMb: int(256, 64, 1 << 20),
  /** CPUs of one replica's capsule. */
  vcpus: int(1, 1, 256),
  /** Browser language (Accept-Language, navigator.languages) and time zone (IANA). */
  locale: str('en-US', { pattern: /^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$/, patternDoc: 'a BCP 47 language tag like en-US' }),
  timezone: str('America/New_York', { pattern: /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/, patternDoc: 'an IANA time zone like Europe/Berlin' }),
  /** Upstream proxy every replica browses through (http://, https:// or socks5://host:port); empty = direct. */
  proxy: str('', { allowEmpty: true, pattern: /^(https?|socks5):\/\/[^\s/]+(:\d+)?\/?$/, patternDoc: 'a proxy URL like http://host:3128' }),
  /** Share cookies across replicas (the original's cluster mode): a cookie set on one replica is copied to the others before their next request. */
  shareCookies: bool(false),
  /** A request waiting this long for a free replica gets 503. compat: 300 s. */
  queueTimeoutSec: int(300, 1, 3600),
  /** A replica not ready this long after its start is replaced. */
  startTimeoutSec: int(60, 5, 600),
}
