import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { setTimeout as sleep } from 'node:timers/promises'
import { createScheduler } from '../../lib/core/jobs.ts'
import { createEventBus } from '../../lib/core/events.ts'
import { silentLogger } from '../../lib/core/logger.ts'

test('a job never overlaps itself and stop() waits for the running one', async () => {
  const s = createScheduler(silentLogger)
  let running = 0, maxRunning = 0, runs = 0, finished = 0
  s.add({
    name: 'slow',
    everyMs: 10,
    run: async () => {
      runs++
      running++
      maxRunning = Math.max(maxRunning, running)
      await sleep(60)
      running--
      finished++
    },
  })
  s.start()
  await sleep(200)
  await s.stop()
  assert.is(maxRunning, 1)
  assert.ok(runs >= 2 && runs <= 5, `runs=${runs}`)
  assert.is(finished, runs, 'stop waited for the run in progress')
  const after = runs
  await sleep(50)
  assert.is(runs, after, 'no runs after stop')
})

test('a failing job is logged and keeps its schedule', async () => {
  const s = createScheduler(silentLogger)
  let n = 0
  s.add({ name: 'boom', everyMs: 10, run: () => { n++; throw new Error('x') } })
  s.start()
  await sleep(60)
  await s.stop()
  assert.ok(n >= 3)
})

test('runNow runs a job on demand', async () => {
  const s = createScheduler(silentLogger)
  let n = 0
  s.add({ name: 'j', everyMs: 1e9, run: () => { n++ } })
  await s.runNow('j')
  assert.is(n, 1)
})

test('event bus delivers to subscribers and survives a throwing one', () => {
  const bus = createEventBus(silentLogger)
  const seen: string[] = []
  bus.subscribe(() => { throw new Error('bad subscriber') })
  const off = bus.subscribe((e) => seen.push(e.type))
  bus.publish({ type: 'a', teamId: null })
  off()
  bus.publish({ type: 'b', teamId: null })
  assert.equal(seen, ['a'])
})

test.run()
