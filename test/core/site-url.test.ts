/** The base URL for links when publicUrl is unset: this start's listen address, a wildcard resolved to a reachable one. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { NetworkInterfaceInfo } from 'node:os'
import { createSiteUrl, listenUrl } from '../../lib/core/site-url.ts'

const nic = (address: string, family: 'IPv4' | 'IPv6', internal: boolean) => ({ address, family, internal, netmask: '', mac: '', cidr: null }) as NetworkInterfaceInfo
const NETS = { lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)], eth0: [nic('fe80::1', 'IPv6', false), nic('192.168.1.20', 'IPv4', false)], docker0: [nic('172.17.0.1', 'IPv4', false)] }

test('a listen host is used as is; a wildcard becomes the first non-loopback IPv4 address', () => {
  assert.is(listenUrl('127.0.0.1', 4000, NETS), 'http://127.0.0.1:4000')
  assert.is(listenUrl('nb.lan', 80, NETS), 'http://nb.lan:80')
  assert.is(listenUrl('::1', 4000, NETS), 'http://[::1]:4000')
  for (const wild of ['0.0.0.0', '::', '']) assert.is(listenUrl(wild, 4000, NETS), 'http://192.168.1.20:4000', wild)
  assert.is(listenUrl('0.0.0.0', 4000, { lo: NETS.lo }), 'http://127.0.0.1:4000', 'no network: loopback')
})

test('publicUrl wins and is never replaced; otherwise the port learnt at listen time is used', () => {
  const configured = createSiteUrl({ publicUrl: 'https://nb.example.com/', listen: { host: '0.0.0.0', port: 0 } }, NETS)
  configured.listening(41234)
  assert.equal([configured.url, configured.https, configured.configured], ['https://nb.example.com', true, true])
  const derived = createSiteUrl({ publicUrl: '', listen: { host: '0.0.0.0', port: 0 } }, NETS)
  derived.listening(41234)
  assert.equal([derived.url, derived.https, derived.configured], ['http://192.168.1.20:41234', false, false])
})

test("a tunnel's URL is used while it has one, unless publicUrl is configured", () => {
  const site = createSiteUrl({ publicUrl: '', listen: { host: '127.0.0.1', port: 0 } }, NETS)
  site.listening(4100)
  assert.equal([site.url, site.source, site.https], ['http://127.0.0.1:4100', 'listen', false])
  site.tunnel('https://calm-river-1.trycloudflare.com/')
  assert.equal([site.url, site.source, site.https, site.configured], ['https://calm-river-1.trycloudflare.com', 'tunnel', true, false])
  site.tunnel(null)
  assert.equal([site.url, site.source, site.https], ['http://127.0.0.1:4100', 'listen', false])
  const configured = createSiteUrl({ publicUrl: 'https://nb.example.com', listen: { host: '127.0.0.1', port: 0 } }, NETS)
  configured.tunnel('https://calm-river-1.trycloudflare.com')
  assert.equal([configured.url, configured.source], ['https://nb.example.com', 'config'])
})

test.run()
