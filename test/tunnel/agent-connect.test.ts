/**
 * `nestbox agent connect` as a real child process, serving a local HTTP service
 * and a WebSocket echo through the tunnel to clients of this nestbox's subdomain
 * proxy (`oc-{shortId}.box.test`, entered through /auth like a browser).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { agentCode, block, patternSha, spawnAgent, startLocalService, stopAgents, type LocalService } from './agent-helpers.ts'
import { sandboxFront, type Front } from './agent-front.ts'

let nb: TestNestbox
let local: LocalService
let sandboxId: string
let front: Front
const dir = mkdtempSync(join(tmpdir(), 'nestbox-agent-'))
const registry = join(dir, 'agents.json')

test.before(async () => {
  nb = await startTestNestbox({ set: { baseDomain: 'box.test' } })
  local = await startLocalService()
  const wid = (await (await nb.api('/api/workspaces')).json())[0].id
  const agent = spawnAgent(['connect', '--server', nb.url, '--code', await agentCode(nb, wid), '--name', 'Laptop', '--opencode-port', String(local.port), '--registry', registry])
  sandboxId = /registered local agent (\S+)/.exec(await agent.waitFor(/registered local agent/))![1]
  await agent.waitFor(/tunnel connected/)
  front = await sandboxFront(nb, sandboxId)
})
test.after(async () => {
  await stopAgents()
  await front.close()
  await local.close()
  await nb.close()
  rmSync(dir, { recursive: true, force: true })
})

test('connect saves the credentials (0600) and list shows them', async () => {
  assert.is(statSync(registry).mode & 0o777, 0o600)
  const saved = JSON.parse(readFileSync(registry, 'utf8')).agents
  assert.is(saved.length, 1)
  assert.equal([saved[0].sandbox_id, saved[0].name, saved[0].server, saved[0].opencode_port], [sandboxId, 'Laptop', nb.url, local.port])
  const list = spawnAgent(['list', '--registry', registry])
  assert.is(await list.exitCode(), 0)
  assert.match(list.lines.join('\n'), sandboxId)
})

test('HTTP through the tunnel: status, headers (several set-cookie), path and query', async () => {
  const r = await front.fetch('/hello?x=1&y=%20')
  assert.is(r.status, 200)
  assert.is(await r.text(), 'hello from the local service')
  assert.is(r.headers.get('x-path'), '/hello?x=1&y=%20')
  assert.equal(r.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Path=/'])
  const h = await (await front.fetch('/echo-headers', { headers: { 'x-custom': 'v' } })).json()
  assert.is(h['x-custom'], 'v')
  assert.is(h.host, `127.0.0.1:${local.port}`)
  assert.is(h['x-forwarded-host'], front.headers.host)
  assert.match(h.authorization, /^Basic /, "the proxy's credential for opencode")
  assert.not.match(h.cookie ?? '', /nestbox_sandbox/, "nestbox's own cookie stays with nestbox")
  assert.is((await front.fetch('/missing')).status, 404)
})

test('large bodies stream both ways in ≤ 16 KiB frames (32 MiB up, 32 MiB down)', async () => {
  const n = 32 * 1024 * 1024
  let i = 0
  const up = new ReadableStream({
    pull(c) {
      if (i * 65536 >= n) return c.close()
      c.enqueue(new Uint8Array(block(i++)))
    },
  })
  const r = await front.fetch('/sha', { method: 'POST', body: up, duplex: 'half' } as RequestInit)
  assert.equal(await r.json(), { bytes: n, sha256: patternSha(n) })

  const down = await front.fetch(`/bytes?n=${n}`)
  assert.is(down.headers.get('content-length'), String(n))
  const h = createHash('sha256')
  let got = 0
  for await (const c of down.body!) {
    h.update(c)
    got += c.length
  }
  assert.is(got, n)
  assert.is(h.digest('hex'), patternSha(n))
})

test('flow control: a client that stops reading holds the local producer back; reading again gets every byte', async () => {
  const n = 256 * 1024 * 1024
  const res = await front.fetch(`/bytes?n=${n}`)
  const reader = res.body!.getReader()
  const h = createHash('sha256')
  const first = await reader.read()
  h.update(first.value!)
  let got = first.value!.length
  // wait until the producer is blocked and stays blocked (every buffer on the way is full)
  const stalled = await new Promise<number>((resolve) => {
    let timer: NodeJS.Timeout | undefined
    const arm = () => {
      clearTimeout(timer)
      timer = setTimeout(() => {
        local.producer.onWait = undefined
        resolve(local.producer.written)
      }, 400)
    }
    local.producer.onWait = arm
    arm()
  })
  assert.ok(stalled < 48 * 1024 * 1024, `the producer got ${stalled} bytes out while nobody read`)
  assert.ok(local.producer.waiting)
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    h.update(value)
    got += value.length
  }
  assert.is(got, n)
  assert.is(h.digest('hex'), patternSha(n))
})

test('a client that goes away mid-download: the local request is cancelled, not read to its end', async () => {
  const closed = new Promise<void>((r) => (local.producer.onClose = r))
  const ctl = new AbortController()
  const res = await front.fetch(`/bytes?n=${256 * 1024 * 1024}`, { signal: ctl.signal })
  const reader = res.body!.getReader()
  await reader.read()
  ctl.abort()
  await closed
  local.producer.onClose = undefined
  assert.not.ok(local.producer.finished, 'the local response was cut short')
  assert.ok(local.producer.written < 128 * 1024 * 1024)
  assert.is((await front.fetch('/hello')).status, 200, 'the tunnel serves on')
})

test('concurrent requests are multiplexed on the one tunnel', async () => {
  const bodies = Array.from({ length: 24 }, (_, i) => Buffer.alloc(1000 + i * 5000, i))
  const answers = await Promise.all(bodies.map((b) => front.fetch('/sha', { method: 'POST', body: b }).then((r) => r.json())))
  answers.forEach((a, i) => assert.equal(a, { bytes: bodies[i].length, sha256: createHash('sha256').update(bodies[i]).digest('hex') }))
})

test('a WebSocket through the tunnel: text and binary echo, clean close', async () => {
  const ws = new WebSocket(front.wsUrl('/ws?room=1'), ['chat'], { headers: front.headers })
  const messages: Array<{ data: Buffer; binary: boolean }> = []
  const waiters: Array<() => void> = []
  ws.on('message', (data, binary) => {
    messages.push({ data: data as Buffer, binary })
    waiters.shift()?.()
  })
  const next = () => new Promise<{ data: Buffer; binary: boolean }>((r) => (messages.length ? r(messages.shift()!) : waiters.push(() => r(messages.shift()!))))
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)))
  assert.is(ws.protocol, 'chat')
  assert.equal(JSON.parse(String((await next()).data)), { hello: '/ws?room=1', protocol: 'chat' })
  ws.send('ping-1')
  const t = await next()
  assert.equal([String(t.data), t.binary], ['ping-1', false])
  const big = Buffer.alloc(700 * 1024, 3)
  ws.send(big)
  const b = await next()
  assert.ok(b.binary && b.data.equals(big))
  const code = await new Promise<number>((r) => {
    ws.once('close', (c) => r(c))
    ws.close(1000, 'bye')
  })
  assert.is(code, 1000)
})

test('the local service gone: 502 from the agent, the tunnel stays up', async () => {
  await local.close()
  const r = await front.fetch('/hello')
  assert.is(r.status, 502)
  // refused, or reset when the agent's kept-alive connection to it was the one cut
  assert.match(await r.text(), /^502 Bad Gateway: .*(ECONNREFUSED|ECONNRESET|socket hang up)/)
  assert.ok(nb.services.agentTunnels.connected(sandboxId))
})

test.run()
