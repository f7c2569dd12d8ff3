/**
 * Repo runs and computers benchmark:
 *   a run of one `true` command on a small local repository (wall time of
 *   POST /api/runs, in the spare capsule booted after the last run, and with
 *   spares off) vs the same clone + command directly on the host;
 *   10 runs at once; GET /api/c/:id/grade over 2,000 receipts (and the pure grade
 *   function alone).
 * Usage: node test/bench/runs.ts [--quick]
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestNestbox } from '../harness.ts'
import { makeRepo, repoRoot } from '../runs/helpers.ts'
import { grade } from '../../lib/runs/grade.ts'
import type { ComputerSpec } from '../../lib/runs/computer-spec.ts'
import { pct } from './lib/measure.ts'
import { system } from '../../lib/core/principal.ts'

const quick = process.argv.includes('--quick')
const N = quick ? 5 : 15
const rows: Array<{ metric: string; p50: number; p95: number; target: string; baseline?: number }> = []

const root = repoRoot()
const files: Record<string, string> = {}
for (let i = 0; i < 50; i++) files[`src/file${i}.txt`] = `line ${i}\n`.repeat(20)
const repo = makeRepo(root, 'bench', { main: files })
const nb = await startTestNestbox({ set: { 'cloudbox.localRoots': root, 'cloudbox.maxConcurrentRuns': 10 } })
// the same without spare capsules: each run boots its own
const cold = await startTestNestbox({ set: { 'cloudbox.localRoots': root, 'cloudbox.spareCapsules': 0 } })

const run = async (box = nb, spare?: boolean) => {
  const t0 = performance.now()
  const r = await box.api('/api/runs', { method: 'POST', json: { repo: repo.path, commands: ['true'] } })
  const b = await r.json()
  if (r.status !== 200 || !b.ok) throw new Error(`run failed: ${r.status} ${JSON.stringify(b).slice(0, 500)}`)
  if (spare !== undefined && b.runnerReceipts[0].alreadyRunning !== spare) throw new Error(`expected a run ${spare ? 'in a spare' : 'booting its capsule'}`)
  return performance.now() - t0
}
/** Resolves once no capsule is starting or stopping: the last run's capsule is gone and the spare booted after it runs. */
const settled = async (box = nb) => {
  for (;;) {
    const list = await box.services.capsules.admin.list(system)
    if (list.every((c) => c.status === 'running' || c.status === 'stopped')) return
    await new Promise((r) => setTimeout(r, 20))
  }
}

/**
 * The same steps on the host: init, shallow fetch, checkout, `bash -lc true`, diff. The run's login shell
 * reads /etc/profile and a home of its own with no profile in it (the capsule's /root is empty), so the
 * host's runs with HOME an empty directory too: this host's root profile (pyenv) alone takes ~200 ms.
 * `login` false: bash -c, no profile at all.
 */
const emptyHome = mkdtempSync(join(tmpdir(), 'nestbox-bench-home-'))
const host = (login = true, base = tmpdir()) => {
  const dir = mkdtempSync(join(base, 'nestbox-bench-clone-'))
  const t0 = performance.now()
  execFileSync('/bin/bash', ['-c', `set -e; cd "$1"; git init -q .; git remote add origin "file://$2"; git fetch -q --depth 1 origin HEAD; git checkout -q --detach FETCH_HEAD; bash -${login ? 'l' : ''}c true; git add -A -N . && git diff HEAD`, 'x', dir, repo.path], { stdio: 'pipe', env: { ...process.env, HOME: emptyHome } })
  const ms = performance.now() - t0
  rmSync(dir, { recursive: true, force: true })
  return ms
}

try {
  await run() // warm-up (and the team's first spare)
  await run(cold)
  host()
  const runs: number[] = []
  const colds: number[] = []
  const hosts: number[] = []
  const plain: number[] = []
  const inRam: number[] = []
  // each measured on a machine at rest: the last run's teardown (after its answer) and the next spare's boot are over
  const rest = async () => (await settled(), await settled(cold))
  for (let i = 0; i < N; i++) {
    await rest()
    runs.push(await run(nb, true))
    await rest()
    colds.push(await run(cold, false))
    await rest()
    hosts.push(host())
    plain.push(host(false))
    inRam.push(host(true, '/dev/shm'))
  }
  rows.push({ metric: `run of one \`true\` on a 51-file local repository (${N} runs, each in the spare booted after the last) vs host in ${tmpdir()} with bash -lc (HOME empty, as in the capsule)`, p50: pct(runs, 50), p95: pct(runs, 95), target: '≤ 1.5× host', baseline: pct(hosts, 50) })
  rows.push({ metric: 'the same runs vs host in /dev/shm (RAM: no disk at all) with bash -lc', p50: pct(runs, 50), p95: pct(runs, 95), target: '≤ 1.5× host', baseline: pct(inRam, 50) })
  rows.push({ metric: `the same runs vs host in ${tmpdir()} with bash -c (no login profile)`, p50: pct(runs, 50), p95: pct(runs, 95), target: '', baseline: pct(plain, 50) })
  rows.push({ metric: `runs that boot their own capsule (cloudbox.spareCapsules 0) vs host in ${tmpdir()} with bash -lc`, p50: pct(colds, 50), p95: pct(colds, 95), target: '', baseline: pct(hosts, 50) })
  rows.push({ metric: 'the same runs that boot their own capsule vs host in /dev/shm with bash -lc', p50: pct(colds, 50), p95: pct(colds, 95), target: '', baseline: pct(inRam, 50) })

  const t0 = performance.now()
  const each = await Promise.all(Array.from({ length: 10 }, () => run()))
  rows.push({ metric: `10 runs at once: all succeeded, total ${(performance.now() - t0).toFixed(0)} ms; per run`, p50: pct(each, 50), p95: pct(each, 95), target: 'all succeed' })

  const spec: ComputerSpec = {
    profile: { role: 'bench' },
    filesystem: Array.from({ length: 20 }, (_, i) => ({ path: `f${i}.md`, kind: 'memo' })),
    collaborators: [{ id: 'a', role: 'reviewer' }, { id: 'b', role: 'author' }],
    objectives: [{ id: 'o', title: 'o' }],
    rubric: [
      { id: 'r1', weight: 1, must: '', mustEvent: { type: 'readBefore', before: 'f3.md', after: 'f19.md' } },
      { id: 'r2', weight: 1, must: '', mustEvent: { type: 'askedOnly', who: 'a', notWho: 'b' } },
      { id: 'r3', weight: 1, must: '', mustEvent: { type: 'submitted', objective: 'o', decision: 'yes' } },
      { id: 'r4', weight: 1, must: '', mustEvent: { type: 'wrote', path: 'out.md' } },
    ],
  }
  const id = (await (await nb.api('/api/computers', { method: 'POST', json: spec })).json()).id
  const receipts = Array.from({ length: 1999 }, (_, i) => ({ ts: Date.now(), kind: i % 3 ? 'read' : 'ask', payload: i % 3 ? { path: `f${i % 20}.md` } : { who: 'a', message: 'm', reply: 'r' } }))
  await nb.services.db.transaction().execute(async (tx) => {
    for (const r of receipts) await tx.insertInto('computer_receipts').values({ team_id: nb.bootstrap.team_id, computer_id: id, ts: r.ts, kind: r.kind, payload: JSON.stringify(r.payload) }).execute()
  })
  const grades: number[] = []
  for (let i = 0; i < 50; i++) {
    const g0 = performance.now()
    const r = await nb.api(`/api/c/${id}/grade`)
    if (r.status !== 200) throw new Error(`grade ${r.status}`)
    await r.json()
    grades.push(performance.now() - g0)
  }
  rows.push({ metric: 'GET /api/c/:id/grade over 2,000+ receipts (HTTP round trip)', p50: pct(grades, 50), p95: pct(grades, 95), target: '≤ 5 ms' })
  const pure: number[] = []
  for (let i = 0; i < 200; i++) {
    const g0 = performance.now()
    grade(spec, receipts)
    pure.push(performance.now() - g0)
  }
  rows.push({ metric: 'grade() alone over 2,000 receipts', p50: pct(pure, 50), p95: pct(pure, 95), target: '' })
} finally {
  await nb.close()
  await cold.close()
  rmSync(root, { recursive: true, force: true })
  rmSync(emptyHome, { recursive: true, force: true })
}

console.log(`\nruns benchmark (process runtime, shared 2-core machine: figures are noisy; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})\n`)
console.log('| metric | p50 | p95 | target | host p50 | p50 / host |')
console.log('| --- | ---: | ---: | --- | ---: | ---: |')
for (const r of rows) console.log(`| ${r.metric} | ${r.p50.toFixed(1)} ms | ${r.p95.toFixed(1)} ms | ${r.target} | ${r.baseline !== undefined ? r.baseline.toFixed(1) + ' ms' : ''} | ${r.baseline ? (r.p50 / r.baseline).toFixed(2) + '×' : ''} |`)
process.exit(0)
