/**
 * Network modes and port exposure through the API, with real clients: a capsule
 * reaching nestbox at $NESTBOX_URL, and apps inside reached by path, by host,
 * with a token, as public ports, over WebSockets, streaming.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { request } from 'node:http'
import WebSocket from 'ws'
import { call, createCapsule, exec, scenarioCallers, start, waitStatus, type Callers } from './fixtures.ts'
import type { TestNestbox } from '../harness.ts'
import { bigBody, startApp as startPortApp } from './port-app.ts'

const BASE = 'caps.nestbox.test'
let nb: TestNestbox
let who: Callers
let id: string

const startApp = (capsule: string, port: number) => startPortApp(nb, capsule, port)

test.before(async () => {
  nb = await start({ baseDomain: BASE })
  who = await scenarioCallers(nb)
  id = await createCapsule(nb, { public_ports: [9000] })
  await startApp(id, 8000)
})
test.after(async () => {
  await nb?.close()
})

test('the default mode is nestbox: NESTBOX_URL reaches this nestbox, nothing else does', async () => {
  const r = await nb.api(`/v1/capsules/${id}`)
  const c = await r.json()
  assert.is(c.network, 'nestbox')
  assert.equal(c.public_ports, [9000])
  assert.is(c.allow_out, null)
  const e = await exec(nb, id, { cmd: 'sh', args: ['-c', 'echo $NESTBOX_URL; curl -s --max-time 5 "$NESTBOX_URL/v1/health"; echo; getent hosts nestbox'] })
  const [url, health, hosts] = e.body.stdout.trim().split('\n')
  assert.is(url, 'http://nestbox')
  assert.is(JSON.parse(health).status, 'ok')
  assert.match(hosts, /^127\.0\.0\.7\s+nestbox$/)
  // the capsule's own API key works from inside, as from anywhere
  const me = await exec(nb, id, { cmd: 'sh', args: ['-c', `curl -s --max-time 5 -H "X-API-Key: ${nb.apiKey}" $NESTBOX_URL/v1/capsules/${id}`] })
  assert.is(JSON.parse(me.body.stdout).id, id)
})

test('a capsule reaching nestbox carries a gateway key scoped to it: the OpenAI and Anthropic variables work from inside', async () => {
  const e = await exec(nb, id, { cmd: 'sh', args: ['-c', 'echo "$OPENAI_BASE_URL $ANTHROPIC_BASE_URL"; curl -s --max-time 5 -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $OPENAI_API_KEY" $OPENAI_BASE_URL/models; echo; curl -s --max-time 5 -o /dev/null -w "%{http_code}" -H "Authorization: Bearer wrong" $OPENAI_BASE_URL/models'] })
  const [bases, ok, wrong] = e.body.stdout.trim().split('\n')
  assert.is(bases, 'http://nestbox/v1 http://nestbox')
  assert.is(ok, '200', 'the capsule key is accepted by the gateway')
  assert.is(wrong, '401')
  const key = (await exec(nb, id, { cmd: 'sh', args: ['-c', 'echo -n $OPENAI_API_KEY'] })).body.stdout
  assert.match(key, /^sk-/)
  // the key belongs to this capsule's team: the gateway says so
  const info = await fetch(`${nb.url}/key/info`, { headers: { authorization: `Bearer ${key}` } })
  assert.is(info.status, 200)
  assert.is((await info.json()).info.team_id, nb.bootstrap.team_id)
})

test('network none has no NESTBOX_URL and reaches nothing; bad network values are 400', async () => {
  const none = await createCapsule(nb, { network: 'none' })
  const e = await exec(nb, none, { cmd: 'sh', args: ['-c', 'echo "[$NESTBOX_URL]"; curl -s -o /dev/null -w "%{http_code}" --max-time 3 http://127.0.0.7/'] })
  assert.is(e.body.stdout, '[]\n000')
  assert.is((await (await nb.api(`/v1/capsules/${none}`)).json()).network, 'none')
  for (const body of [{ network: 'lan' }, { network: 'nestbox', allow_out: ['10.0.0.0/8'] }, { network: 'internet', allow_out: ['not a host!'] }, { public_ports: [0] }, { public_ports: 'x' }]) {
    const r = await nb.api('/v1/capsules', { method: 'POST', json: body })
    assert.is(r.status, 400, JSON.stringify(body))
    assert.is((await r.json()).error.code, 'invalid_network', JSON.stringify(body))
  }
  await nb.api(`/v1/capsules/${none}`, { method: 'DELETE' })
})

test('path-based: the team opens a port; other teams do not find it; no credentials, no entry', async () => {
  const r = await call(nb, who.owner, `/v1/capsules/${id}/ports/8000/some/path?q=1`, { headers: { cookie: 'wrenn_sid=secret; app=1' } })
  assert.is(r.status, 200)
  const seen = await r.json()
  assert.is(seen.path, '/some/path?q=1')
  assert.is(seen.headers['x-forwarded-prefix'], `/v1/capsules/${id}/ports/8000`)
  assert.is(seen.headers['x-api-key'], undefined, 'nestbox credentials are not passed on')
  assert.is(seen.headers.cookie, 'app=1')
  // a HEAD gets the app's own answer (python's server has no HEAD: 501), no body
  const head = await call(nb, who.owner, `/v1/capsules/${id}/ports/8000/`, { method: 'HEAD' })
  assert.is(head.status, 501)
  assert.is((await head.arrayBuffer()).byteLength, 0)
  assert.is((await call(nb, who.otherTeam, `/v1/capsules/${id}/ports/8000/`)).status, 404)
  const anon = await call(nb, who.anonymous, `/v1/capsules/${id}/ports/8000/`)
  assert.is(anon.status, 401)
  assert.ok((await anon.json()).error.message)
})

test('nothing listening is 502, a paused capsule 409, both in the Wrenn envelope', async () => {
  const closed = await nb.api(`/v1/capsules/${id}/ports/8001/`)
  assert.is(closed.status, 502)
  assert.match((await closed.json()).error.message, /nothing is listening on port 8001/)
  const other = await createCapsule(nb)
  assert.is((await nb.api(`/v1/capsules/${other}/pause`, { method: 'POST' })).status, 202)
  const paused = await nb.api(`/v1/capsules/${other}/ports/8000/`)
  assert.is(paused.status, 409)
  assert.is((await paused.json()).error.code, 'capsule_paused')
  await nb.api(`/v1/capsules/${other}`, { method: 'DELETE' })
})

test('a port token opens the port for a browser, then a cookie carries it', async () => {
  const t = await (await nb.api(`/v1/capsules/${id}/ports/8000/token`, { method: 'POST', json: { ttl_sec: 60 } })).json()
  assert.match(t.url, new RegExp(`/v1/capsules/${id}/ports/8000/\\?nestbox_token=`))
  assert.ok(t.host_url.startsWith(`http://8000-${id}.${BASE}/?nestbox_token=`))
  const first = await fetch(nb.url + new URL(t.url).pathname + new URL(t.url).search)
  assert.is(first.status, 200)
  assert.is((await first.json()).path, '/', 'the token is not passed on')
  const cookie = first.headers.get('set-cookie')!
  assert.match(cookie, /^nestbox_port_token=[^;]+; Path=\/v1\/capsules\/sb-[0-9a-f]+\/ports\/8000\/; HttpOnly/)
  const next = await fetch(`${nb.url}/v1/capsules/${id}/ports/8000/asset.js`, { headers: { cookie: cookie.split(';')[0] } })
  assert.is(next.status, 200)
  assert.is((await next.json()).headers.cookie, undefined)
  // a token is for its port only, and a forged one is refused
  assert.is((await fetch(`${nb.url}/v1/capsules/${id}/ports/8001/?nestbox_token=${encodeURIComponent(t.token)}`)).status, 401)
  assert.is((await fetch(`${nb.url}/v1/capsules/${id}/ports/8000/?nestbox_token=9999999999.forged`)).status, 401)
  assert.is((await call(nb, who.otherTeam, `/v1/capsules/${id}/ports/8000/token`, { method: 'POST', json: {} })).status, 404)
})

test('a public port opens without credentials', async () => {
  await startApp(id, 9000)
  const r = await fetch(`${nb.url}/v1/capsules/${id}/ports/9000/open`)
  assert.is(r.status, 200)
  assert.is((await r.json()).path, '/open')
})

/** A GET with a Host header of our choosing (fetch does not let one set it). */
function hostGet(host: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const u = new URL(nb.url)
    request({ host: u.hostname, port: u.port, path, headers: { host, ...headers } }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, body }))
    })
      .on('error', reject)
      .end()
  })
}

test('host-based: {port}-{capsule}.{baseDomain} is the app at its root', async () => {
  const r = await hostGet(`8000-${id}.${BASE}`, '/x?y=2', { 'x-api-key': nb.apiKey })
  assert.is(r.status, 200)
  const seen = JSON.parse(r.body)
  assert.is(seen.path, '/x?y=2')
  assert.is(seen.headers.host, `8000-${id}.${BASE}`)
  // every path of such a host is the app's, none is nestbox's API
  assert.is(JSON.parse((await hostGet(`8000-${id}.${BASE}`, '/v1/health', { 'x-api-key': nb.apiKey })).body).path, '/v1/health')
  assert.is((await hostGet(`8000-${id}.${BASE}`, '/v1/health')).status, 401)
  assert.is((await hostGet(`9000-${id}.${BASE}`, '/')).status, 200, 'a public port needs no credentials')
  assert.is((await hostGet(`8000-${id}.other.test`, '/v1/health')).status, 200, 'other hosts are the API')
})

test('streams: SSE arrives event by event, large bodies both ways, WebSockets', async () => {
  const sse = await nb.api(`/v1/capsules/${id}/ports/8000/sse`)
  assert.is(sse.headers.get('content-type'), 'text/event-stream')
  const reader = sse.body!.getReader()
  const first = await reader.read()
  assert.match(new TextDecoder().decode(first.value), /^data: 0/)
  let rest = ''
  for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value)
  assert.match(rest, /data: 2/)

  // sized and chunked, one after the other on the relay's pooled connection: every byte as sent
  const sha = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex')
  for (const q of ['n=64', 'n=48&chunked']) {
    const big = await nb.api(`/v1/capsules/${id}/ports/8000/big?${q}`)
    const h = createHash('sha256')
    let n = 0
    for await (const chunk of big.body!) (h.update(chunk), (n += chunk.length))
    const want = bigBody(Number(/n=(\d+)/.exec(q)![1]))
    assert.is(n, want.length, q)
    assert.is(h.digest('hex'), sha(want), q)
  }

  const payload = Buffer.alloc(8 << 20, 7)
  const up = await nb.api(`/v1/capsules/${id}/ports/8000/upload`, { method: 'POST', body: payload })
  const got = await up.json()
  assert.is(got.len, payload.length)

  const ws = new WebSocket(`${nb.url.replace(/^http/, 'ws')}/v1/capsules/${id}/ports/8000/ws`, { headers: { 'x-api-key': nb.apiKey } })
  await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)))
  const echoed = new Promise<string>((res) => ws.once('message', (d) => res(String(d))))
  ws.send('hello')
  assert.is(await echoed, 'echo:hello')
  ws.close()
})

test('a capsule whose port is opened counts as active', async () => {
  await waitStatus(nb, id, 'running')
  const before = (await (await nb.api(`/v1/capsules/${id}`)).json()).last_active_at
  await new Promise((r) => setTimeout(r, 20))
  await nb.api(`/v1/capsules/${id}/ports/8000/`)
  const after = (await (await nb.api(`/v1/capsules/${id}`)).json()).last_active_at
  assert.ok(after > before)
})

test.run()
