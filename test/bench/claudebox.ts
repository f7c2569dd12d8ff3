/**
 * claudebox benchmark against the same instant scripted Anthropic upstream:
 *   a one-turn run through POST /claudebox/run (warm workspace, fresh session)
 *   vs `claude -p` run directly on the host (same CLI, straight at the upstream),
 *   alternating; the first run in a new workspace (capsule made on first use);
 *   8 runs in 8 workspaces at once (all must succeed), wall time.
 * Usage: node test/bench/claudebox.ts [--quick] [--no-seccomp]  (the latter: capsules without the syscall filter, to see its share)
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findCliDir } from '../../lib/claudebox/cli-dir.ts'
import { startFakeClaudeUpstream } from '../claudebox/fake-upstream.ts'
import { cbx, startBox } from '../claudebox/helpers.ts'
import { pct } from './lib/measure.ts'

const quick = process.argv.includes('--quick')
const N = quick ? 5 : 15
const FIRST = quick ? 2 : 4

const up = await startFakeClaudeUpstream()
const b = await startBox(process.argv.includes('--no-seccomp') ? { 'capsules.process.seccomp': false } : {}, { up })
const cli = join(findCliDir('')!, 'claude')
const home = mkdtempSync(join(tmpdir(), 'claude-home-'))
const work = mkdtempSync(join(tmpdir(), 'claude-work-'))

function hostRun(prompt: string): Promise<number> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const p = spawn(cli, ['--dangerously-skip-permissions', '-p', prompt, '--output-format', 'stream-json', '--verbose', '--model', 'claude-sonnet-4-5'], {
      cwd: work,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: home, IS_SANDBOX: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1', ANTHROPIC_BASE_URL: up.url, ANTHROPIC_API_KEY: 'sk-bench' },
    })
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.on('close', (code) => (code === 0 && out.includes('"type":"result"') ? resolve(performance.now() - t0) : reject(new Error(`host claude exited ${code}`))))
  })
}
async function boxRun(workspace: string, prompt: string): Promise<number> {
  const t0 = performance.now()
  const r = await cbx(b, '/run', { method: 'POST', json: { prompt, workspace, noContinue: true } })
  const body = await r.json()
  if (r.status !== 200 || body.isError) throw new Error(`run failed: ${r.status} ${JSON.stringify(body).slice(0, 300)}`)
  return performance.now() - t0
}

const firsts: number[] = []
for (let i = 0; i < FIRST; i++) firsts.push(await boxRun(`first-${i}`, 'hello'))
await hostRun('warm up')
const host: number[] = []
const box: number[] = []
for (let i = 0; i < N; i++) {
  host.push(await hostRun(`ping ${i}`))
  box.push(await boxRun('warm', `ping ${i}`))
}
const t0 = performance.now()
const parallel = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => boxRun(`par-${i}`, `parallel ${i}`)))
const wall = performance.now() - t0
const ok = parallel.filter((p) => p.status === 'fulfilled').length

const rows = [
  ['host `claude -p` (same CLI, straight at the upstream)', pct(host, 50), pct(host, 95), ''],
  ['POST /claudebox/run, warm workspace', pct(box, 50), pct(box, 95), `ratio p50 ${(pct(box, 50) / pct(host, 50)).toFixed(2)} (target ≤ 1.3)`],
  ['first run in a new workspace (capsule created)', pct(firsts, 50), pct(firsts, 95), `n=${FIRST}`],
  ['8 runs in 8 new workspaces at once: wall', wall, wall, `${ok}/8 succeeded`],
] as const
console.log(`\nclaudebox (n=${N}, ms)`)
console.log('| metric | p50 | p95 | note |\n| --- | ---: | ---: | --- |')
for (const [m, p50, p95, note] of rows) console.log(`| ${m} | ${p50.toFixed(0)} | ${p95.toFixed(0)} | ${note} |`)

await b.close()
await up.close()
rmSync(home, { recursive: true, force: true })
rmSync(work, { recursive: true, force: true })
if (ok !== 8) process.exit(1)
