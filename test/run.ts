/**
 * Runs every test/**\/*.test.ts file in its own Node process (two at a time),
 * prints each file's output, and ends with "N passed, N failed".
 * Usage: node test/run.ts [filter ...]  (substring match on the file path)
 */
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { availableParallelism } from 'node:os'

const root = new URL('.', import.meta.url).pathname
const filters = process.argv.slice(2)

function find(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (name === 'bench' || name === 'node_modules') return []
    if (statSync(p).isDirectory()) return find(p)
    return name.endsWith('.test.ts') ? [p] : []
  })
}

const files = find(root)
  .filter((f) => !filters.length || filters.some((x) => f.includes(x)))
  .sort()
let passed = 0, failed = 0, skipped = 0
const failedFiles: string[] = []

function runFile(file: string): Promise<void> {
  return new Promise((resolve) => {
    const t0 = Date.now()
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 5 * 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0)
      const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0)
      const sk = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0)
      passed += ok
      skipped += sk
      let bad = total - ok - sk
      if (code !== 0 && bad === 0) bad = 1 // crashed before or after its tests
      failed += bad
      if (bad) failedFiles.push(relative(root, file))
      const name = relative(root, file)
      process.stdout.write(`\n=== ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${code})\n${out.trim()}\n`)
      resolve()
    })
  })
}

const queue = [...files]
const workers = Array.from({ length: Math.min(Math.max(2, availableParallelism()), 4) }, async () => {
  while (queue.length) await runFile(queue.shift()!)
})
await Promise.all(workers)
if (failedFiles.length) console.log(`\nfailed files:\n  ${failedFiles.join('\n  ')}`)
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed || !files.length ? 1 : 0)
