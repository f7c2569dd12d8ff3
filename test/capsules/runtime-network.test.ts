/**
 * Network modes of the process runtime: what a capsule reaches in none, nestbox
 * and internet mode, allow_out, and nestbox reaching a port inside. The outside
 * world is a network namespace this test makes (veth pair) with servers at its
 * own non-loopback addresses; nothing leaves this machine.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { liveProcesses, sh, sleep, spec, testRuntime } from './runtime-helpers.ts'
import { until } from '../harness.ts'

// one /24 per test process, so files running side by side never collide
const net = 200 + (process.pid % 50)
const NS = `nbt${process.pid}`
const HOST_IF = `nbh${process.pid}`.slice(0, 15)
const HOST_ADDR = `10.${net}.7.1`
const OUTSIDE = `10.${net}.7.2`
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' })

const apiHits: string[] = []
const t = testRuntime({
  // nestbox's side of the API relay: a server per capsule on its socket
  api: async (capsuleId, socketPath) => {
    const s = createServer((req, res) => {
      apiHits.push(capsuleId)
      res.end(`nestbox for ${capsuleId}: ${req.method} ${req.url}`)
    })
    await new Promise<void>((r) => s.listen(socketPath, r))
    return () => s.close()
  },
})
const { rt } = t
let outside: ChildProcess
let hostLoopback: Server
let hostOther: Server

const listen = (s: Server, host: string) => new Promise<number>((r) => s.listen(0, host, () => r((s.address() as AddressInfo).port)))
let loopPort = 0
let otherPort = 0

test.before(async () => {
  ip('netns', 'add', NS)
  ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS)
  ip('addr', 'add', `${HOST_ADDR}/24`, 'dev', HOST_IF)
  ip('link', 'set', HOST_IF, 'up')
  ip('-n', NS, 'addr', 'add', `${OUTSIDE}/24`, 'dev', 'eth0')
  ip('-n', NS, 'link', 'set', 'eth0', 'up')
  ip('-n', NS, 'link', 'set', 'lo', 'up')
  // "the internet": a web server at a non-loopback address of its own namespace
  outside = spawn('ip', ['netns', 'exec', NS, '/usr/bin/python3', '-m', 'http.server', '--bind', OUTSIDE, '8080'], { stdio: 'ignore', cwd: '/usr/share/doc' })
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('ip', ['netns', 'exec', NS, 'bash', '-c', `echo > /dev/tcp/${OUTSIDE}/8080`], { stdio: 'ignore' })
      break
    } catch {
      await sleep(50)
    }
  }
  // services of the host: on its loopback, and on another of its addresses
  hostLoopback = createServer((_, res) => res.end('host loopback'))
  hostOther = createServer((_, res) => res.end('host address'))
  loopPort = await listen(hostLoopback, '127.0.0.1')
  otherPort = await listen(hostOther, HOST_ADDR)
})

test.after(async () => {
  await t.close()
  outside?.kill('SIGKILL')
  hostLoopback.close()
  hostOther.close()
  try {
    ip('link', 'del', HOST_IF)
  } catch {
    // gone with the namespace
  }
  ip('netns', 'del', NS)
  rmSync(`/var/run/netns/${NS}`, { force: true })
})

/** HTTP status (or 000 when no connection) of a GET from inside the capsule. */
const curl = async (id: string, url: string) => (await sh(rt, id, `curl -s -o /dev/null -w '%{http_code}' --max-time 3 ${url}`)).out
const body = async (id: string, url: string) => (await sh(rt, id, `curl -s --max-time 3 ${url}`)).out

const hostTargets = () => [`http://127.0.0.1:${loopPort}/`, `http://10.0.2.2:${loopPort}/`, `http://${HOST_ADDR}:${otherPort}/`]

test('none: loopback only', async () => {
  const cap = spec({ network: { mode: 'none' } })
  await rt.create(cap)
  try {
    assert.is(await curl(cap.id, 'http://nestbox/'), '000')
    assert.is(await curl(cap.id, `http://${OUTSIDE}:8080/`), '000')
    for (const u of hostTargets()) assert.is(await curl(cap.id, u), '000', u)
    assert.is((await sh(rt, cap.id, 'cat /etc/resolv.conf')).out, '')
  } finally {
    await rt.destroy(cap.id)
  }
})

test('nestbox: the capsule reaches nestbox at http://nestbox, and nothing else', async () => {
  const cap = spec({ network: { mode: 'nestbox' } })
  await rt.create(cap)
  try {
    assert.is(await body(cap.id, 'http://nestbox/v1/health?x=1'), `nestbox for ${cap.id}: GET /v1/health?x=1`)
    assert.ok(apiHits.includes(cap.id), 'served on the socket of this capsule')
    assert.is(await curl(cap.id, `http://${OUTSIDE}:8080/`), '000', 'no outside address')
    for (const u of hostTargets()) assert.is(await curl(cap.id, u), '000', u)
    // a large upload and download through the relay arrive whole
    const r = await sh(rt, cap.id, 'head -c 3000000 /dev/urandom > /tmp/big && curl -s --max-time 10 --data-binary @/tmp/big http://nestbox/up | wc -c')
    assert.ok(Number(r.out.trim()) > 0, r.err)
  } finally {
    await rt.destroy(cap.id)
  }
})

test('internet: outside addresses and DNS server, never the host', async () => {
  const cap = spec({ network: { mode: 'internet' } })
  await rt.create(cap)
  try {
    assert.is(await curl(cap.id, `http://${OUTSIDE}:8080/`), '200')
    assert.is(await body(cap.id, 'http://nestbox/ping'), `nestbox for ${cap.id}: GET /ping`)
    for (const u of hostTargets()) assert.is(await curl(cap.id, u), '000', u)
    assert.is((await sh(rt, cap.id, 'cat /etc/resolv.conf')).out, 'nameserver 10.0.2.3\n')
    // capsule root cannot lift the filter
    const r = await sh(rt, cap.id, 'nft flush ruleset 2>&1; ip link set tap0 down 2>&1; echo done')
    assert.match(r.out, /done/)
    for (const u of hostTargets()) assert.is(await curl(cap.id, u), '000', u)
  } finally {
    await rt.destroy(cap.id)
  }
})

test('internet with allow_out: only the listed destinations', async () => {
  const allowed = spec({ network: { mode: 'internet', allowOut: [`${OUTSIDE}/32`] } })
  const narrow = spec({ network: { mode: 'internet', allowOut: ['192.0.2.0/24'] } })
  await rt.create(allowed)
  await rt.create(narrow)
  try {
    assert.is(await curl(allowed.id, `http://${OUTSIDE}:8080/`), '200')
    assert.is(await curl(narrow.id, `http://${OUTSIDE}:8080/`), '000')
    assert.is(await body(narrow.id, 'http://nestbox/'), `nestbox for ${narrow.id}: GET /`, 'nestbox stays reachable')
    for (const u of hostTargets()) assert.is(await curl(allowed.id, u), '000', u)
  } finally {
    await rt.destroy(allowed.id)
    await rt.destroy(narrow.id)
  }
})

test('internet: a restarted nestbox finds the capsule still reaching out; destroying it ends pasta', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-rt-net-restart-'))
  const uidBase = t.uidBase + 16 * 65_536 // past the slots of this file's runtime
  const cap = spec({ network: { mode: 'internet' } })
  const first = testRuntime({ dataDir, uidBase, onShutdown: 'keep' })
  await first.rt.create(cap)
  const pasta = (JSON.parse(readFileSync(join(dataDir, 'runtime', 'capsules', cap.id, 'state.json'), 'utf8')) as { pasta: number }).pasta
  assert.ok(pasta > 0 && readFileSync(`/proc/${pasta}/cmdline`, 'utf8').startsWith('pasta'), 'pasta runs')
  await first.rt.shutdown()

  const second = testRuntime({ dataDir, uidBase, onShutdown: 'keep' })
  try {
    assert.equal(await second.rt.recover([cap.id]), { [cap.id]: 'running' })
    const r = await sh(second.rt, cap.id, `curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://${OUTSIDE}:8080/`)
    assert.is(r.out, '200')
    await second.rt.destroy(cap.id)
    await until(() => !liveProcesses().some((p) => p.pid === pasta), 5000, 'pasta gone with its capsule')
  } finally {
    await second.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test('nestbox reaches a port inside, in any mode, without a host port', async () => {
  const cap = spec({ network: { mode: 'none' } })
  await rt.create(cap)
  try {
    await rt.spawn(cap.id, { cmd: '/usr/bin/python3', args: ['-m', 'http.server', '--bind', '127.0.0.1', '8000'], cwd: '/etc' })
    let sock
    for (let i = 0; i < 100 && !sock; i++) sock = await rt.connectPort!(cap.id, 8000).catch(() => sleep(50).then(() => undefined))
    assert.ok(sock, 'connected')
    sock!.resume()
    const reply = await new Promise<string>((resolve) => {
      let got = ''
      sock!.on('data', (d) => (got += d))
      sock!.on('end', () => resolve(got))
      sock!.write('GET /hostname HTTP/1.0\r\n\r\n')
    })
    assert.match(reply, /^HTTP\/1\.0 200/)
    assert.ok(reply.endsWith(`${cap.id}\n`))
    const err = await rt.connectPort!(cap.id, 8001).then(() => null, (e: NodeJS.ErrnoException) => e)
    assert.is(err?.code, 'ECONNREFUSED')
  } finally {
    await rt.destroy(cap.id)
  }
})

test.run()
