/**
 * `npm run bench`: runs every test/bench/*.ts benchmark (not this file, not the
 * helpers in lib/) one after another, each in its own Node process so they never
 * compete for the CPU or share a JIT, and passes their tables through.
 * Usage: node test/bench/run.ts [filter ...]  (substring match on the file name)
 */
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

const dir = new URL('.', import.meta.url).pathname
const filters = process.argv.slice(2)
const files = readdirSync(dir, { withFileTypes: true })
  .filter((e) => e.isFile() && e.name.endsWith('.ts') && e.name !== 'run.ts')
  .map((e) => e.name)
  .filter((name) => !filters.length || filters.some((f) => name.includes(f)))
  .sort()

if (!files.length) {
  console.error(`no benchmarks${filters.length ? ` matching ${filters.join(', ')}` : ''} in ${dir}`)
  process.exit(1)
}

const failed: string[] = []
for (const name of files) {
  console.log(`\n=== bench ${name}`)
  const t0 = Date.now()
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [join(dir, name)], { stdio: 'inherit' })
    child.on('close', resolve)
  })
  console.log(`=== ${name}: ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  if (code !== 0) failed.push(name)
}
if (failed.length) console.log(`\nfailed benchmarks: ${failed.join(', ')}`)
process.exit(failed.length ? 1 : 0)
