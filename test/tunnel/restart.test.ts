/**
 * The supervisor against the cloudflared stand-in: a crash or a kill is followed
 * by a restart with a new quick-tunnel URL that links follow; runs that never
 * get ready back off exponentially (capped) until maxFailures, then the state is
 * "failed"; a cloudflared that ignores SIGTERM is killed after stopTimeoutMs.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { adminBrowser } from '../identity/helpers.ts'
import { alive, until, writeStandIn, type StandIn } from './standin.ts'

const started: Array<{ nb: TestNestbox; cf: StandIn }> = []

async function start(set: Record<string, string | number | boolean> = {}, cf = writeStandIn()) {
  const nb = await startTestNestbox({ set: { 'tunnel.cloudflared.enabled': true, 'tunnel.cloudflared.path': cf.path, 'identity.rateLimit.loginPerIp': 1000, ...set } })
  started.push({ nb, cf })
  const admin = await adminBrowser(nb)
  const status = async () => (await (await admin.get('/v1/admin/tunnel')).json()) as Record<string, any>
  const running = (not?: number) => until('a running tunnel', async () => {
    const s = await status()
    return s.state === 'running' && s.pid !== not && s
  })
  return { nb, cf, status, running }
}

test.after(async () => {
  for (const { nb, cf } of started) {
    await nb.close()
    for (const r of cf.runs()) for (const pid of [r.pid, r.child]) if (alive(pid)) process.kill(pid, 'SIGKILL')
    cf.remove()
  }
})

test('a crash is followed by a restart with a new URL; links follow it', async () => {
  const { nb, cf, status, running } = await start({ 'tunnel.cloudflared.restartDelayMs': 50 })
  const first = await running()
  cf.set('crash', true)
  const second = await running(first.pid)
  assert.is.not(second.url, first.url)
  assert.is(second.url, cf.edge(second.pid).url)
  assert.is(second.restarts, 1)
  assert.is(second.last_error, `${cf.path} exited with code 1: simulated crash: connection to the edge was lost`)
  assert.not.ok(alive(first.pid))
  await until('the crashed run\'s child to be gone', () => !alive(cf.runs()[0].child), 2000)
  assert.is(nb.services.site.url, second.url)
  assert.is((await status()).public_url, second.url)
})

test('a cloudflared killed from outside is restarted too', async () => {
  const { cf, running } = await start({ 'tunnel.cloudflared.restartDelayMs': 50 })
  const first = await running()
  process.kill(first.pid, 'SIGKILL')
  const second = await running(first.pid)
  assert.is(second.restarts, 1)
  assert.match(second.last_error, new RegExp(`^${cf.path} was killed by SIGKILL`))
  await until('the killed run\'s child to be gone', () => !alive(cf.runs()[0].child), 2000)
})

test('starts that fail back off 100, 200, 400, 400 ms, then the supervisor gives up', async () => {
  const cf = writeStandIn()
  cf.set('fail-start', true)
  const { nb, status } = await start({ 'tunnel.cloudflared.restartDelayMs': 100, 'tunnel.cloudflared.maxRestartDelayMs': 400, 'tunnel.cloudflared.maxFailures': 5 }, cf)
  const failed = await until('the failed state', async () => {
    const s = await status()
    return s.state === 'failed' && s
  })
  const runs = cf.runs()
  assert.is(runs.length, 5)
  const gaps = runs.slice(1).map((r, i) => r.t - runs[i].t)
  const want = [100, 200, 400, 400]
  gaps.forEach((g, i) => assert.ok(g >= want[i] && g < want[i] + 1500, `gap ${i}: ${g} ms, want about ${want[i]} (${gaps})`))
  assert.equal([failed.restarts, failed.pid, failed.url], [4, null, null])
  assert.is(failed.public_url, `http://127.0.0.1:${nb.port}`)
  assert.match(failed.last_error, /exited with code 1: failed to request quick Tunnel: Post "https:\/\/api\.trycloudflare\.com\/tunnel"/)
  for (const r of runs) assert.not.ok(alive(r.pid))
  // Given up means given up: no further start however long we wait (twice the longest delay).
  await new Promise((r) => setTimeout(r, 800))
  assert.is(cf.runs().length, 5)
})

test('a flapping cloudflared backs off although each run got ready; a run that stayed up resets it', async () => {
  const { cf, running } = await start({ 'tunnel.cloudflared.restartDelayMs': 300, 'tunnel.cloudflared.maxRestartDelayMs': 3000 })
  let t = await running()
  const crashAndTime = async () => {
    const at = Date.now()
    const before = cf.runs().length
    cf.set('crash', true)
    t = await running(t.pid)
    return cf.runs()[before].t - at
  }
  const flaps = [await crashAndTime(), await crashAndTime()]
  // This run stays up past maxRestartDelayMs before it crashes.
  await until('the run to have lived 3 s', () => Date.now() - cf.runs()[2].t > 3100, 10_000)
  const afterLongRun = await crashAndTime()
  const got = [...flaps, afterLongRun]
  const want = [300, 600, 300]
  got.forEach((g, i) => assert.ok(g >= want[i] && g < want[i] + 800, `restart ${i}: ${g} ms after the crash, want about ${want[i]} (${got})`))
})

test('a cloudflared that ignores SIGTERM is killed after stopTimeoutMs', async () => {
  const { nb, cf, running } = await start({ 'tunnel.cloudflared.stopTimeoutMs': 300 })
  const t = await running()
  assert.equal(cf.runs()[0].args.slice(1, 4), ['--no-autoupdate', '--grace-period', '0ms'], 'cloudflared gets less grace than we wait')
  cf.set('ignore-term', true)
  const t0 = Date.now()
  await nb.close()
  const took = Date.now() - t0
  assert.ok(took >= 300, `close took ${took} ms`)
  assert.not.ok(alive(t.pid))
})

test.run()
