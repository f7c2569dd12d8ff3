/**
 * Capsule benchmark over real HTTP against the real process runtime:
 *   create → first successful exec `echo ok` (also with vs without the syscall
 *   filter, and with vs without the disk limit, alternating), exec round trip, pause + resume,
 *   20 concurrent creates, an exec integrity hammer (outputs checked vs lost),
 *   host memory of 200 idle capsules, metrics sampling pass
 *   with 200 capsules, RSS growth of a 1 GiB streaming upload.
 * Baselines measured in the same run: a bare host spawn of `sh -c 'echo ok'`, a bare
 * bubblewrap sandbox (`bwrap ... true`), and an HTTP GET of the capsule.
 * Usage: node test/bench/capsules.ts [--idle 200] [--quick]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { closeSync, openSync, ftruncateSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestNestbox } from '../harness.ts'
import { descendantsPss, pct } from './lib/measure.ts'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const IDLE = Number(args[args.indexOf('--idle') + 1]) || (quick ? 50 : 200)
const N = quick ? 10 : 30

const time = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}
const memAvailable = () => Number(/MemAvailable:\s+(\d+)/.exec(execFileSync('cat', ['/proc/meminfo'], { encoding: 'utf8' }))![1]) * 1024
const hostSpawn = () => new Promise<void>((res) => spawn('/bin/sh', ['-c', 'echo ok'], { stdio: 'ignore' }).on('close', () => res()))
const bareBwrap = () =>
  new Promise<void>((res) => spawn('bwrap', ['--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--unshare-all', '--die-with-parent', '/bin/true'], { stdio: 'ignore' }).on('close', () => res()))

const nb = await startTestNestbox({ set: { 'capsules.limits.maxVcpus': 4 } })
const rows: Array<{ metric: string; p50: number; p95: number; unit: string; target: string; baseline?: number }> = []
const api = (path: string, init: RequestInit & { json?: unknown } = {}) => nb.api(path, init)
const create = async (body: unknown = {}) => (await (await api('/v1/capsules', { method: 'POST', json: body })).json()).id as string
const execOk = async (id: string) => {
  const r = await api(`/v1/capsules/${id}/exec`, { method: 'POST', json: { cmd: 'echo ok' } })
  const b = await r.json()
  if (b.stdout !== 'ok\n') throw new Error(`exec failed: ${JSON.stringify(b)}`)
}
const destroy = (id: string) => api(`/v1/capsules/${id}`, { method: 'DELETE' })

/** What `yes <t> | head -c <n>` prints. */
const yes = (t: string, n: number) => `${t}\n`.repeat(Math.ceil(n / (t.length + 1))).slice(0, n)

/** `caps` capsules created at once, `execs` concurrent execs in each (half `echo`, half 64 KiB on stdout plus stderr). */
async function execHammer(caps: number, execs: number) {
  let checked = 0
  let lost = 0
  const check = (got: unknown, want: string) => {
    checked++
    if (got !== want) lost++
  }
  const cids = await Promise.all(
    Array.from({ length: caps }, async () => {
      const cid = await create()
      await Promise.all(
        Array.from({ length: execs }, async (_, i) => {
          const t = `t${cid}-${i}-${Math.random().toString(36).slice(2, 8)}`
          const cmd = i % 2 ? `yes ${t} | head -c 65536; printf e${t} >&2` : `echo ${t}`
          const b = await (await api(`/v1/capsules/${cid}/exec`, { method: 'POST', json: { cmd } })).json()
          check(b.stdout, i % 2 ? yes(t, 65536) : `${t}\n`)
          if (i % 2) check(b.stderr, `e${t}`)
        }),
      )
      return cid
    }),
  )
  await Promise.all(cids.map(destroy))
  return { checked, lost }
}

try {
  // Warm-up (first bwrap, JIT, page cache).
  const w = await create()
  await execOk(w)
  await destroy(w)

  // Baselines.
  const spawnT: number[] = []
  const bwrapT: number[] = []
  for (let i = 0; i < N; i++) spawnT.push(await time(hostSpawn))
  for (let i = 0; i < N; i++) bwrapT.push(await time(bareBwrap))

  // create → first successful exec.
  const firstExec: number[] = []
  for (let i = 0; i < N; i++) {
    let id = ''
    firstExec.push(
      await time(async () => {
        id = await create()
        await execOk(id) // an exec on a starting capsule waits for it
      }),
    )
    await destroy(id)
  }
  rows.push({ metric: 'create → first exec `echo ok`', p50: pct(firstExec, 50), p95: pct(firstExec, 95), unit: 'ms', target: '≤ 60 ms', baseline: pct(bwrapT, 50) })

  /** create → first `echo ok` over HTTP on `n`, then destroy */
  const firstExecOf = async (n: typeof nb) => {
    const t0 = performance.now()
    const cid = (await (await n.api('/v1/capsules', { method: 'POST', json: {} })).json()).id as string
    const b = await (await n.api(`/v1/capsules/${cid}/exec`, { method: 'POST', json: { cmd: 'echo ok' } })).json()
    if (b.stdout !== 'ok\n') throw new Error(`exec failed: ${JSON.stringify(b)}`)
    const ms = performance.now() - t0
    await n.api(`/v1/capsules/${cid}`, { method: 'DELETE' })
    return ms
  }

  // the syscall filter's cost: the same, alternating with a nestbox whose capsules run without it
  const plain = await startTestNestbox({ set: { 'capsules.limits.maxVcpus': 4, 'capsules.process.seccomp': false } })
  try {
    await firstExecOf(plain) // its warm-up
    const withFilter: number[] = []
    const without: number[] = []
    for (let i = 0; i < N; i++) {
      withFilter.push(await firstExecOf(nb))
      without.push(await firstExecOf(plain))
    }
    rows.push({ metric: 'create → first exec, with the syscall filter (alternating with the next row)', p50: pct(withFilter, 50), p95: pct(withFilter, 95), unit: 'ms', target: '≤ 60 ms', baseline: pct(without, 50) })
    rows.push({ metric: 'create → first exec, capsules.process.seccomp=false', p50: pct(without, 50), p95: pct(without, 95), unit: 'ms', target: '' })
  } finally {
    await plain.close()
  }

  // the disk limit's cost (a loop-mounted image per capsule, disk.ts): alternating with a nestbox that keeps capsules' files in its data dir
  const unlimited = await startTestNestbox({ set: { 'capsules.limits.maxVcpus': 4, 'capsules.process.diskLimits': false } })
  try {
    await firstExecOf(unlimited)
    const limited: number[] = []
    const without: number[] = []
    for (let i = 0; i < N; i++) {
      limited.push(await firstExecOf(nb))
      without.push(await firstExecOf(unlimited))
    }
    rows.push({ metric: 'create → first exec, with the disk limit (alternating with the next row)', p50: pct(limited, 50), p95: pct(limited, 95), unit: 'ms', target: '≤ 60 ms', baseline: pct(without, 50) })
    rows.push({ metric: 'create → first exec, capsules.process.diskLimits=false', p50: pct(without, 50), p95: pct(without, 95), unit: 'ms', target: '' })
  } finally {
    await unlimited.close()
  }

  // exec round trip.
  const id = await create()
  await execOk(id)
  const execT: number[] = []
  for (let i = 0; i < N * 3; i++) execT.push(await time(() => execOk(id)))
  rows.push({ metric: 'exec round trip', p50: pct(execT, 50), p95: pct(execT, 95), unit: 'ms', target: '≤ 10 ms', baseline: pct(spawnT, 50) })

  // pause + resume.
  const getT: number[] = []
  for (let i = 0; i < N; i++) getT.push(await time(() => api(`/v1/capsules/${id}`).then((r) => r.json())))
  const prT: number[] = []
  for (let i = 0; i < N; i++) {
    prT.push(
      await time(async () => {
        const p = await api(`/v1/capsules/${id}/pause`, { method: 'POST' })
        const r = await api(`/v1/capsules/${id}/resume`, { method: 'POST' })
        if (p.status !== 202 || r.status !== 202) throw new Error(`pause/resume: ${p.status} ${r.status}`)
      }),
    )
  }
  rows.push({ metric: 'pause + resume', p50: pct(prT, 50), p95: pct(prT, 95), unit: 'ms', target: '≤ 20 ms', baseline: pct(getT, 50) * 2 })
  await execOk(id)

  // 20 concurrent creates.
  const conc: number[] = []
  const ids = await Promise.all(
    Array.from({ length: 20 }, async () => {
      const t0 = performance.now()
      const cid = await create()
      await execOk(cid)
      conc.push(performance.now() - t0)
      return cid
    }),
  )
  const states = await Promise.all(ids.map(async (c) => (await (await api(`/v1/capsules/${c}`)).json()).status))
  const running = states.filter((s) => s === 'running').length
  rows.push({ metric: `20 concurrent creates (${running}/20 running)`, p50: pct(conc, 50), p95: pct(conc, 95), unit: 'ms', target: 'all running' })
  await Promise.all(ids.map(destroy))

  // Exec integrity hammer: capsules created at once, concurrent execs with unique tokens, every answer checked byte for byte.
  const hammer = await execHammer(10, 10)
  rows.push({ metric: `exec integrity hammer (10 capsules created at once, ${hammer.checked} outputs checked byte for byte, short and 64 KiB)`, p50: hammer.lost, p95: hammer.lost, unit: 'lost', target: '0 lost' })

  // 200 idle capsules: host memory.
  global.gc?.()
  await new Promise((r) => setTimeout(r, 500))
  const before = memAvailable()
  const rssBefore = process.memoryUsage().rss
  const idle: string[] = []
  for (let i = 0; i < IDLE; i += 10) idle.push(...(await Promise.all(Array.from({ length: Math.min(10, IDLE - i) }, async () => { const c = await create(); await execOk(c); return c }))))
  await new Promise((r) => setTimeout(r, 1000))
  const after = memAvailable()
  const rssAfter = process.memoryUsage().rss
  const perCapsule = (before - after) / IDLE / 1048576
  const pss = descendantsPss()
  const pssPer = (pss.bytes + Math.max(0, rssAfter - rssBefore)) / IDLE / 1048576
  rows.push({ metric: `host memory per idle capsule (${IDLE}; PSS of their ${pss.count} processes + nestbox RSS Δ)`, p50: pssPer, p95: pssPer, unit: 'MiB', target: '≤ 3 MiB' })
  rows.push({ metric: `host memory per idle capsule (${IDLE}, MemAvailable Δ)`, p50: perCapsule, p95: perCapsule, unit: 'MiB', target: '≤ 3 MiB' })
  rows.push({ metric: `nestbox RSS per idle capsule (${IDLE})`, p50: (rssAfter - rssBefore) / IDLE / 1048576, p95: (rssAfter - rssBefore) / IDLE / 1048576, unit: 'MiB', target: '' })
  const passT: number[] = []
  for (let i = 0; i < 10; i++) passT.push(await time(() => nb.services.jobs.runNow('capsules.metrics')))
  rows.push({ metric: `metrics sampling pass, ${IDLE} + 1 capsules`, p50: pct(passT, 50), p95: pct(passT, 95), unit: 'ms', target: '< 500 ms period' })
  for (let i = 0; i < idle.length; i += 20) await Promise.all(idle.slice(i, i + 20).map(destroy))

  // 1 GiB streaming upload: nestbox RSS growth (curl sends it from another process).
  const big = join(tmpdir(), `nestbox-bench-1g-${process.pid}`)
  const fd = openSync(big, 'w')
  ftruncateSync(fd, 1 << 30)
  closeSync(fd)
  const curlUpload = (file: string, dest: string) =>
    new Promise<number>((res) =>
      spawn('curl', ['-s', '-o', '/dev/null', '-H', `x-api-key: ${nb.apiKey}`, '-F', `path=${dest}`, '-F', `file=@${file}`, `${nb.url}/v1/capsules/${id}/files/stream/write`], { stdio: 'ignore' }).on('close', (c) => res(c ?? 1)),
    )
  try {
    // Warm the upload path once (code, allocator arenas) so the figure is the upload's own growth.
    const warm = join(tmpdir(), `nestbox-bench-64m-${process.pid}`)
    const wfd = openSync(warm, 'w')
    ftruncateSync(wfd, 64 << 20)
    closeSync(wfd)
    const w0 = process.memoryUsage().rss
    let wpeak = w0
    const wtimer = setInterval(() => (wpeak = Math.max(wpeak, process.memoryUsage().rss)), 20)
    await curlUpload(warm, '/tmp/warm.bin')
    clearInterval(wtimer)
    rmSync(warm, { force: true })
    rows.push({ metric: 'first streaming upload in this process (64 MiB): peak RSS growth', p50: (wpeak - w0) / 1048576, p95: (wpeak - w0) / 1048576, unit: 'MiB', target: '' })
    const rss0 = process.memoryUsage().rss
    let peak = rss0
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20)
    const t0 = performance.now()
    const code = await curlUpload(big, '/tmp/big.bin')
    const ms = performance.now() - t0
    clearInterval(timer)
    const size = (await (await api(`/v1/capsules/${id}/exec`, { method: 'POST', json: { cmd: 'stat -c %s /tmp/big.bin' } })).json()).stdout.trim()
    const grow = (peak - rss0) / 1048576
    rows.push({ metric: `1 GiB streaming upload: peak RSS growth after a 64 MiB warm-up (curl exit ${code}, ${size} bytes written, ${(1024 / (ms / 1000)).toFixed(0)} MiB/s)`, p50: grow, p95: grow, unit: 'MiB', target: '< 64 MiB' })
  } finally {
    rmSync(big, { force: true })
  }
  await destroy(id)
} finally {
  await nb.close()
}

const bw = spawnSync('bwrap', ['--version'], { encoding: 'utf8' }).stdout.trim()
console.log(`\ncapsule benchmark (process runtime, ${bw}, shared 2-core machine: figures are noisy)\n`)
console.log('| metric | p50 | p95 | target | baseline p50 | p50 / baseline |')
console.log('| --- | ---: | ---: | --- | ---: | ---: |')
for (const r of rows) {
  const f = (x: number) => `${x.toFixed(r.unit === 'MiB' ? 2 : 1)} ${r.unit}`
  console.log(`| ${r.metric} | ${f(r.p50)} | ${f(r.p95)} | ${r.target} | ${r.baseline !== undefined ? f(r.baseline) : ''} | ${r.baseline ? (r.p50 / r.baseline).toFixed(2) + '×' : ''} |`)
}
console.log('\nbaselines: create → bare `bwrap --unshare-all true`; exec → host spawn of `sh -c "echo ok"`; pause+resume → two HTTP GETs of the capsule')
process.exit(0)
