/**
 * Where channels may send: http(s) URLs whose host resolves only to public
 * addresses, unless configuration allows private ones. The check runs when a
 * channel is saved and again on every connection (the agent's DNS lookup), so a
 * name that later resolves to a private address (DNS rebinding) is still refused.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { lookup as dnsLookupAsync } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { Agent } from 'undici'
import { invalid } from '../../core/errors.ts'

const blocked = new BlockList()
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, bits, 'ipv4')
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['::ffff:0:0', 96], ['64:ff9b::', 96]] as const) blocked.addSubnet(net, bits, 'ipv6')

export const isPrivateAddress = (ip: string) => blocked.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4')

/** Parses and checks a destination URL's form (scheme, no credentials); the address check happens on connect. */
export function parseDestination(raw: string, field: string, allowPrivate: boolean): URL {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw invalid(`${field} must be a URL`, 'invalid_config')
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw invalid(`${field} must be an http(s) URL`, 'invalid_config')
  if (u.username || u.password) throw invalid(`${field} must not carry credentials in the URL`, 'invalid_config')
  const host = u.hostname.replace(/^\[|\]$/g, '')
  if (!allowPrivate && (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) && isPrivateAddress(host))))
    throw invalid(`${field} points to a loopback, private or link-local address, which this server does not allow`, 'destination_not_allowed')
  return u
}

/** An undici agent whose DNS lookups fail for private addresses (unless allowed). */
export function destinationAgent(allowPrivate: boolean, timeoutMs: number): Agent {
  const lookup = (host: string, opts: object, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(host, { ...opts, all: true }, (err, addrs) => {
      if (err) return cb(err, [])
      const list = addrs as LookupAddress[]
      if (!allowPrivate && list.some((a) => isPrivateAddress(a.address)))
        return cb(Object.assign(new Error(`${host} resolves to a private address; refused`), { code: 'EPRIVATE' }), [])
      if ((opts as { all?: boolean }).all) return cb(null, list)
      cb(null, list[0].address, list[0].family)
    })
  }
  return new Agent({ connect: { lookup: lookup as never, timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
}

/** Save-time check that a destination's host resolves only to allowed addresses (sends check again on connect). */
export async function assertResolvesPublic(u: URL, field: string, allowPrivate: boolean): Promise<void> {
  if (allowPrivate) return
  const host = u.hostname.replace(/^\[|\]$/g, '')
  if (isIP(host)) return // literals were checked by parseDestination
  let addrs: LookupAddress[]
  try {
    addrs = await dnsLookupAsync(host, { all: true })
  } catch {
    return // not resolvable now: every send checks again when it connects
  }
  if (addrs.some((a) => isPrivateAddress(a.address)))
    throw invalid(`${field} resolves to a loopback, private or link-local address, which this server does not allow`, 'destination_not_allowed')
}
