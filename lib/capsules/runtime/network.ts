/**
 * A capsule's network. Every capsule has its own network namespace with loopback;
 * what it reaches beyond depends on its mode:
 *
 *   none     loopback only.
 *   nestbox  plus nestbox's own API at http://nestbox (127.0.0.7:80 inside): the
 *            anchor relays it to a unix socket nestbox serves for this capsule
 *            (relay.c). No interface, no route: nothing else exists.
 *   internet plus outside addresses through pasta (passt's user-mode TCP/IP: its
 *            connections leave from host sockets; no host interface, bridge or
 *            firewall rule is touched, no host port opened, no port forwarded),
 *            with the host's own addresses (and its loopback) refused by a
 *            filter inside the capsule's namespace, which capsule root, having
 *            no CAP_NET_ADMIN, cannot change; `allowOut` narrows it further.
 *
 * In every mode nestbox reaches a port inside through the anchor's ports relay
 * (connectPort), without the capsule listening anywhere on the host.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { lookup } from 'node:dns/promises'
import { isIPv4 } from 'node:net'
import { connect, type Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { invalid } from '../../core/errors.ts'
import { runHostCommand } from './host-command.ts'

export type NetworkMode = 'none' | 'nestbox' | 'internet'
export const NETWORK_MODES: NetworkMode[] = ['none', 'nestbox', 'internet']
export type NetworkSpec = { mode: NetworkMode; allowOut?: string[] }

/** Inside the capsule: nestbox's name and address, and where the relay directory is bound. */
export const NESTBOX_HOST = 'nestbox'
export const NESTBOX_ADDR = '127.0.0.7'
export const NESTBOX_URL = `http://${NESTBOX_HOST}`
export const RELAY_DIR_INSIDE = '/dev/.nestbox'

/** The capsule's side of an internet network (slirp's classic addresses): its own address, its gateway, its DNS server. */
const CAPSULE_ADDR = '10.0.2.100'
const GATEWAY = '10.0.2.2'
const DNS_ADDR = '10.0.2.3'

export const hostsFile = (id: string, mode: NetworkMode) =>
  `127.0.0.1\tlocalhost ${id}\n::1\tlocalhost ip6-localhost ip6-loopback\n${mode === 'none' ? '' : `${NESTBOX_ADDR}\t${NESTBOX_HOST}\n`}`
export const resolvConf = (mode: NetworkMode) => (mode === 'internet' ? `nameserver ${DNS_ADDR}\n` : '')

const CIDR = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?$/
const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,62}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62}[a-zA-Z0-9])?)*$/

/** Checks allow_out entries: IPv4 addresses or CIDRs, or host names. */
export function parseAllowOut(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v) || v.length > 256) throw invalid('allow_out must be an array of at most 256 CIDRs or host names', 'invalid_network')
  for (const e of v) {
    if (typeof e !== 'string') throw invalid('allow_out entries must be strings', 'invalid_network')
    const m = CIDR.exec(e)
    if (m ? !isIPv4(m[1]) || Number(m[2] ?? 32) > 32 : !HOSTNAME.test(e)) throw invalid(`allow_out entry "${e.slice(0, 80)}" is neither an IPv4 CIDR nor a host name`, 'invalid_network')
  }
  return v as string[]
}

/** allow_out as CIDRs: host names are resolved now, on the host. */
export async function resolveAllowOut(entries: string[]): Promise<string[]> {
  const out: string[] = []
  for (const e of entries) {
    if (CIDR.test(e)) out.push(e.includes('/') ? e : `${e}/32`)
    else {
      const addrs = await lookup(e, { all: true, family: 4 }).catch(() => [])
      if (!addrs.length) throw invalid(`allow_out host name "${e}" does not resolve`, 'invalid_network')
      for (const a of addrs) out.push(`${a.address}/32`)
    }
  }
  return out
}

/** The host's own IPv4 addresses: never reachable from a capsule (but through nestbox's relay). */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4' && !a.internal)
    .map((a) => a!.address)
}

/** The filter inside an internet capsule's namespace (nft syntax). */
export function egressRules(allowCidrs: string[] | null): string {
  const host = [GATEWAY, ...hostAddresses()]
  return `table inet nestbox {
  chain out {
    type filter hook output priority 0; policy accept;
    oif "lo" accept
    ip daddr { ${host.join(', ')} } meta l4proto tcp reject with tcp reset
    ip daddr { ${host.join(', ')} } reject
${allowCidrs ? `    ip daddr ${DNS_ADDR} udp dport 53 accept
    ip daddr ${DNS_ADDR} tcp dport 53 accept
${allowCidrs.length ? `    ip daddr { ${allowCidrs.join(', ')} } accept\n` : ''}    meta l4proto tcp reject with tcp reset
    reject
` : ''}    ip6 daddr != ::1 reject
  }
}
`
}

/**
 * pasta's options: IPv4 only, on a tap device `tap0` with the addresses above
 * and DNS queries to DNS_ADDR forwarded to the host's resolver. No port is
 * forwarded either way (its default forwards every port bound inside, and host
 * loopback ports in), and the gateway is not mapped to the host's loopback.
 * As root pasta would switch to nobody, who cannot join the capsule's user
 * namespace: it stays root, as slirp4netns did, and once set up it confines
 * itself (a user and mount namespace of its own on an empty root, a seccomp
 * filter, no_new_privs), which slirp4netns did not.
 */
const PASTA_OPTIONS = ['--runas', '0:0', '--foreground', '--quiet', '--config-net', '--ipv4-only', '--address', CAPSULE_ADDR, '--netmask', '24', '--gateway', GATEWAY,
  '--no-map-gw', '--dns-forward', DNS_ADDR, '--ns-ifname', 'tap0', '--tcp-ports', 'none', '--udp-ports', 'none', '--tcp-ns', 'none', '--udp-ns', 'none']

/** What pasta writes in a capsule's directory: its pid once the namespace is configured, and its messages. */
export const PASTA_FILES = ['pasta.pid', 'pasta.log']

const written = (file: string) => {
  try {
    return readFileSync(file, 'utf8').trim() !== ''
  } catch {
    return false
  }
}

/**
 * Gives the capsule whose pid 1 is `pid1` its way out: the filter first (so no
 * packet leaves before it), then pasta. Resolves once pasta has configured the
 * namespace (it writes its pid file then). pasta's files go in `dir`
 * (PASTA_FILES); its messages to a file, not a pipe, as it outlives a restart
 * of nestbox.
 */
export async function startInternet(pid1: number, allowCidrs: string[] | null, dir: string, timeoutMs = 10_000): Promise<ChildProcess> {
  await runHostCommand('/usr/bin/nsenter', ['-t', String(pid1), '-n', '--', 'nft', '-f', '-'], egressRules(allowCidrs))
  const [pidFile, logFile] = PASTA_FILES.map((f) => join(dir, f))
  rmSync(pidFile, { force: true })
  const log = openSync(logFile, 'w', 0o600)
  let pasta: ChildProcess
  try {
    pasta = spawn('pasta', [...PASTA_OPTIONS, '--pid', pidFile, String(pid1)], { stdio: ['ignore', 'ignore', log], detached: true, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } })
  } finally {
    closeSync(log)
  }
  let exited: number | null | undefined
  let spawnError = ''
  pasta.on('error', (e) => ((spawnError = e.message), (exited = null)))
  pasta.on('exit', (code) => (exited = code))
  try {
    for (const started = Date.now(); !written(pidFile); ) {
      if (exited !== undefined) throw new Error(`pasta exited ${exited}`)
      if (Date.now() - started > timeoutMs) throw new Error(`pasta not ready within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 1))
    }
  } catch (e) {
    pasta.kill('SIGKILL')
    // Debian's build also complains, line by line, that it has no syslog
    const said = [spawnError, ...readFileSync(logFile, 'utf8').split('\n').filter((l) => !l.startsWith('Failed to send'))].filter(Boolean).join('; ')
    throw new Error(`${(e as Error).message}${said ? `: ${said.slice(0, 300)}` : ''}`)
  }
  pasta.removeAllListeners('exit')
  pasta.unref()
  return pasta
}

/** Host path of the relay directory of a capsule whose record directory is `dir`. */
export const relayDir = (dir: string) => join(dir, 'relay')

/**
 * A stream to `port` on the capsule's loopback, at once (no round trip): when
 * nothing listens there, the relay answers "ERR <reason>\n" and closes, which an
 * HTTP client sees as a parse error before any response.
 */
export function openPort(dir: string, port: number): Socket {
  const sock = connect(join(relayDir(dir), 'ports.sock'))
  sock.write(`${port}\n`)
  return sock
}

/**
 * A connection to `port` on the capsule's loopback, through the anchor's ports
 * relay, once the relay has connected. Rejects with code ECONNREFUSED when
 * nothing listens there. With `passClient`, the relay then waits for a client
 * connection to join to the port instead of carrying this one (fd-broker.ts).
 */
export function connectPort(dir: string, port: number, timeoutMs = 10_000, passClient = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect(join(relayDir(dir), 'ports.sock'))
    let head = ''
    const timer = setTimeout(() => done(Object.assign(new Error('the capsule did not answer'), { code: 'ETIMEDOUT' })), timeoutMs)
    const done = (err: Error | null) => {
      clearTimeout(timer)
      sock.removeAllListeners('data')
      sock.removeAllListeners('error')
      if (err) {
        sock.destroy()
        reject(err)
      } else resolve(sock)
    }
    sock.on('error', (e) => done(e))
    sock.on('connect', () => sock.write(`${port} ${passClient ? 'fd' : 'ack'}\n`))
    sock.on('data', (d: Buffer) => {
      const nl = d.indexOf(10)
      if (nl < 0) {
        head += d.toString('latin1')
        return
      }
      head += d.subarray(0, nl).toString('latin1')
      const rest = d.subarray(nl + 1)
      if (head !== 'OK') return done(Object.assign(new Error(`nothing answers on port ${port} in the capsule (${head.replace(/^ERR /, '')})`), { code: 'ECONNREFUSED' }))
      sock.pause()
      if (rest.length) sock.unshift(rest)
      done(null)
    })
  })
}

/**
 * Joins a client connection to `up` (from connectPort) for good, nestbox
 * carrying the bytes: `prefix` goes first, then both directions as they come.
 * A half-close is passed on; either side closing ends both.
 */
export function joinSockets(up: Socket, client: Socket, prefix: Buffer): void {
  client.setNoDelay(true)
  up.write(prefix)
  up.pipe(client)
  client.pipe(up)
  const end = () => (up.destroy(), client.destroy())
  up.on('error', end).on('close', end)
  client.on('error', end).on('close', end)
  client.resume()
}
