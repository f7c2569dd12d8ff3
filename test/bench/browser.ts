/**
 * Browser pool benchmark (issue 18), pages served from a network namespace (test/browser/pages.ts):
 *   `goto` of a small page + `get_text` through POST /stealthy-auto-browse/ (a warm, sticky replica)
 *   vs the same two steps with playwright-core driving Debian's chromium directly on the host (headful on an
 *   Xvfb of its own, as the replicas run; goto waits for domcontentloaded, the action's default), alternating;
 *   20 clients on 5 replicas for 60 s (each sticky, goto + get_text per request pair): every request must
 *   succeed; throughput and p95; idle working-set memory per replica from __queue/status.
 * Usage: node test/bench/browser.ts [--quick]   (--quick: 10 pairs, 15 s of load)
 */
import { chromium } from 'playwright-core'
import { spawn } from 'node:child_process'
import { startPageServer } from '../browser/pages.ts'
import { client, startPool, status, until } from '../browser/pool-helpers.ts'
import { pct } from './lib/measure.ts'

const quick = process.argv.includes('--quick')
const N = quick ? 10 : 30
const LOAD_MS = (quick ? 15 : 60) * 1000
const CLIENTS = 20
const REPLICAS = 5
const ms = (x: number) => `${x.toFixed(1)} ms`

const pages = await startPageServer({ '/': '<html><head><title>Bench</title></head><body><h1>small page</h1><p>some text to read back</p></body></html>' })
const { nb, token } = await startPool({ 'browser.replicas': REPLICAS })
// the baseline is the same kind of browser: headful Debian chromium on an Xvfb display of its own, on the host
const display = `:${200 + (process.pid % 500)}`
const xvfb = spawn('/usr/bin/Xvfb', [display, '-screen', '0', '1920x1080x24', '-nolisten', 'tcp'], { stdio: 'ignore' })
await new Promise((r) => setTimeout(r, 1000))
const host = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: false, args: ['--no-sandbox'], env: { ...process.env, DISPLAY: display } })
try {
  const hostPage = await host.newPage()
  const c = client(nb, token)
  const step = async (body: unknown) => {
    const r = await c.post(body)
    if (r.status !== 200 || !r.body.success) throw new Error(`${JSON.stringify(body)} failed: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`)
  }
  await step({ action: 'goto', url: `${pages.base}/` })
  await hostPage.goto(`${pages.base}/`)
  const pool: number[] = []
  const direct: number[] = []
  for (let i = 0; i < N; i++) {
    let t0 = performance.now()
    await step({ action: 'goto', url: `${pages.base}/?i=${i}` })
    await step({ action: 'get_text' })
    pool.push(performance.now() - t0)
    t0 = performance.now()
    await hostPage.goto(`${pages.base}/?i=${i}`, { waitUntil: 'domcontentloaded' })
    await hostPage.innerText('body')
    direct.push(performance.now() - t0)
  }
  const p50 = pct(pool, 50)
  const h50 = pct(direct, 50)
  console.log(`goto + get_text   pool p50 ${ms(p50)}   host playwright p50 ${ms(h50)}   ratio ${(p50 / h50).toFixed(2)} (target ≤ 1.3)`)

  // all replicas up before the load starts
  await Promise.all(Array.from({ length: REPLICAS }, () => client(nb, token).post({ action: 'sleep', duration: 1 })))
  await until(async () => (await status(nb)).running === REPLICAS, 120_000, 'every replica up')
  await new Promise((r) => setTimeout(r, 3000))
  const idle = (await status(nb)).replicas.map((r) => r.memory_mb ?? 0)
  console.log(`idle memory per replica (capsule working set, Xvfb + chromium + one blank tab): ${idle.join(', ')} MiB (target ≤ 256)`)

  const lat: number[] = []
  let ok = 0
  let failed = 0
  const end = Date.now() + LOAD_MS
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, k) => {
      const me = client(nb, token)
      for (let i = 0; Date.now() < end; i++) {
        for (const body of [{ action: 'goto', url: `${pages.base}/?c=${k}&i=${i}` }, { action: 'get_text' }]) {
          const t0 = performance.now()
          const r = await me.post(body)
          lat.push(performance.now() - t0)
          if (r.status === 200 && r.body.success) ok++
          else {
            failed++
            console.error('failed:', r.status, JSON.stringify(r.body).slice(0, 200))
          }
        }
      }
    }),
  )
  console.log(`${CLIENTS} clients on ${REPLICAS} replicas for ${LOAD_MS / 1000} s: ${ok} answered ok, ${failed} failed, ${(ok / (LOAD_MS / 1000)).toFixed(1)} req/s, p50 ${ms(pct(lat, 50))}, p95 ${ms(pct(lat, 95))}`)
  if (failed) process.exitCode = 1
} finally {
  await host.close()
  xvfb.kill()
  await nb.close()
  pages.close()
}
