import type { Logger } from './logger.ts'

export type Job = { name: string; everyMs: number; run: () => Promise<unknown> | unknown }

/**
 * Interval jobs. A job never overlaps itself: a tick that finds the previous run
 * still going is skipped. stop() waits for running jobs to finish.
 */
export function createScheduler(log: Logger) {
  const jobs = new Map<string, { job: Job; timer?: NodeJS.Timeout; running?: Promise<void> }>()
  let started = false

  const tick = (name: string) => {
    const entry = jobs.get(name)
    if (!entry || entry.running) return
    const t0 = performance.now()
    const run: Promise<void> = (async () => {
      await null // a job that throws synchronously must still settle after `running` is set
      try {
        const result = await entry.job.run()
        log.debug('job done', { job: name, ms: Math.round(performance.now() - t0), result })
      } catch (err) {
        log.error('job failed', { job: name, err })
      } finally {
        entry.running = undefined
      }
    })()
    entry.running = run
  }

  const arm = (name: string) => {
    const entry = jobs.get(name)!
    entry.timer = setInterval(() => tick(name), entry.job.everyMs)
    entry.timer.unref()
  }

  return {
    add(job: Job) {
      if (jobs.has(job.name)) throw new Error(`job ${job.name} already registered`)
      jobs.set(job.name, { job })
      if (started) arm(job.name)
    },
    start() {
      started = true
      for (const name of jobs.keys()) arm(name)
    },
    /** Run a job now (tests, admin); resolves when that run finishes. */
    async runNow(name: string) {
      const entry = jobs.get(name)
      if (!entry) throw new Error(`unknown job ${name}`)
      if (entry.running) await entry.running
      tick(name)
      await entry.running
    },
    async stop() {
      started = false
      for (const entry of jobs.values()) clearInterval(entry.timer)
      await Promise.all([...jobs.values()].map((e) => e.running))
    },
    names: () => [...jobs.keys()],
  }
}
export type Scheduler = ReturnType<typeof createScheduler>
