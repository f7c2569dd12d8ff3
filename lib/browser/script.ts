/**
 * run_script: several actions on one replica in one request, given as `steps`
 * or as the original's YAML script, with `on_error` (stop | continue), the
 * control nodes `if`, `repeat` and `while`, and `output_id` to collect step
 * data into `outputs`. compat(stealthy-auto-browse 000): the same script shape,
 * bounds and answer (name, success, steps_executed, steps_total, duration,
 * step_results, outputs). The original's `${env.NAME}` placeholders are not
 * expanded: nestbox's environment is not the caller's to read.
 */
import { parse as parseYaml } from 'yaml'
import { withBackstop } from './actions/backstop.ts'
import { ActionError, BINARY, contextFor, type ActionData } from './actions/define.ts'
import type { ReplicaHandle } from './replica-handle.ts'
import { checkCondition, testCondition, type Condition } from './script-conditions.ts'

export type Outcome = { ok: true; data: ActionData } | { ok: false; error: string }
export type Dispatch = (replica: ReplicaHandle, step: Record<string, unknown>) => Promise<Outcome>

const MAX_COUNT = 100
const MAX_DEPTH = 8
/** All loop bodies of one script together run at most this many steps. */
const MAX_LOOP_STEPS = 1000
const MAX_STEPS = 1000
const MAX_YAML = 1024 * 1024

type Step = Record<string, unknown>
type Script = { name: string; onError: 'stop' | 'continue'; steps: Step[] }
type StepResult = { step: number; action?: string; control?: string; success: boolean; duration: number; data?: unknown; error?: string }
type Run = { replica: ReplicaHandle; dispatch: Dispatch; onError: 'stop' | 'continue'; outputs: Record<string, unknown>; loopSteps: number; failed: boolean; halted: boolean }

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const CONTROLS = ['if', 'repeat', 'while'] as const

function readScript(body: Record<string, unknown>): Script {
  let src: Record<string, unknown> = body
  if (body.yaml !== undefined && body.yaml !== null && body.yaml !== '') {
    if (typeof body.yaml !== 'string') throw new ActionError('yaml must be a string')
    if (body.yaml.length > MAX_YAML) throw new ActionError(`yaml is longer than ${MAX_YAML} characters`)
    let doc: unknown
    try {
      doc = parseYaml(body.yaml)
    } catch (e) {
      throw new ActionError(`invalid YAML: ${(e as Error).message.split('\n')[0]}`)
    }
    if (!isObj(doc)) throw new ActionError('invalid YAML: a mapping with steps expected')
    if (!('steps' in doc)) throw new ActionError('YAML missing steps')
    src = doc
  } else if (body.steps === undefined || body.steps === null) {
    throw new ActionError('steps or yaml required')
  }
  const onError = src.on_error ?? body.on_error ?? 'stop'
  if (onError !== 'stop' && onError !== 'continue') throw new ActionError('on_error must be "stop" or "continue"')
  const name = src.name ?? body.name ?? (src === body ? 'api_script' : 'script')
  if (typeof name !== 'string') throw new ActionError('name must be a string')
  const count = { n: 0 }
  const steps = checkSteps(src.steps, 'steps', 0, count)
  if (steps.length === 0) throw new ActionError('steps must not be empty')
  return { name, onError, steps }
}

/** The whole script is checked before its first step runs: a bad node fails the request, nothing half-done. */
function checkSteps(v: unknown, where: string, depth: number, count: { n: number }): Step[] {
  if (!Array.isArray(v)) throw new ActionError(`${where} must be a list of steps`)
  if (depth > MAX_DEPTH) throw new ActionError(`${where}: control nodes nest deeper than ${MAX_DEPTH} levels`)
  v.forEach((s, i) => {
    const at = `${where}[${i}]`
    if (++count.n > MAX_STEPS) throw new ActionError(`a script has at most ${MAX_STEPS} steps`)
    if (!isObj(s)) throw new ActionError(`${at} must be a mapping`)
    const controls = CONTROLS.filter((k) => k in s)
    if (controls.length === 0) {
      if (typeof s.action !== 'string' || !s.action) throw new ActionError(`${at}: action required`)
      if (s.output_id !== undefined && (typeof s.output_id !== 'string' || !s.output_id)) throw new ActionError(`${at}: output_id must be a non-empty string`)
      return
    }
    if (controls.length > 1 || Object.keys(s).length > 1) throw new ActionError(`${at}: a control node (${controls.join(', ')}) cannot carry other fields`)
    const kind = controls[0]
    const node = s[kind]
    if (!isObj(node)) throw new ActionError(`${at}: ${kind} must be a mapping`)
    if (kind === 'if') {
      checkCondition(node.condition, `${at}.if.condition`, depth + 1)
      checkSteps(node.then, `${at}.if.then`, depth + 1, count)
      if (node.else !== undefined) checkSteps(node.else, `${at}.if.else`, depth + 1, count)
    } else if (kind === 'repeat') {
      if (!Number.isInteger(node.count) || (node.count as number) < 1 || (node.count as number) > MAX_COUNT) throw new ActionError(`${at}: repeat count must be an integer from 1 to ${MAX_COUNT}`)
      checkSteps(node.steps, `${at}.repeat.steps`, depth + 1, count)
    } else {
      if (!Number.isInteger(node.max_iterations) || (node.max_iterations as number) < 1 || (node.max_iterations as number) > MAX_COUNT) {
        throw new ActionError(`${at}: while max_iterations is required, an integer from 1 to ${MAX_COUNT}`)
      }
      checkCondition(node.condition, `${at}.while.condition`, depth + 1)
      checkSteps(node.steps, `${at}.while.steps`, depth + 1, count)
    }
  })
  return v as Step[]
}

const secondsSince = (t0: number) => Math.round(performance.now() - t0) / 1000

async function runSteps(run: Run, steps: Step[], inLoop: boolean): Promise<StepResult[]> {
  const results: StepResult[] = []
  for (const [i, s] of steps.entries()) {
    if (run.halted) break
    if (inLoop && ++run.loopSteps > MAX_LOOP_STEPS) {
      results.push({ step: i, success: false, duration: 0, error: `loop bodies ran more than ${MAX_LOOP_STEPS} steps` })
      fail(run)
      break
    }
    results.push(await runStep(run, s, i))
  }
  return results
}

function fail(run: Run) {
  run.failed = true
  if (run.onError === 'stop') run.halted = true
}

async function runStep(run: Run, s: Step, i: number): Promise<StepResult> {
  const t0 = performance.now()
  const kind = CONTROLS.find((k) => k in s)
  if (!kind) {
    const out = await run.dispatch(run.replica, s)
    const action = s.action as string
    if (!out.ok) {
      fail(run)
      return { step: i, action, success: false, duration: secondsSince(t0), error: out.error }
    }
    const png = out.data[BINARY]
    if (typeof s.output_id === 'string') run.outputs[s.output_id] = png ? `data:image/png;base64,${png.toString('base64')}` : out.data
    // A screenshot's image is in outputs (when asked for), not repeated in the log.
    const { image: _image, ...data } = out.data
    return { step: i, action, success: true, duration: secondsSince(t0), data: png ? data : out.data }
  }
  const node = s[kind] as Record<string, unknown>
  const failedBefore = run.failed
  try {
    let data: Record<string, unknown>
    let error: string | undefined
    // A hung page must not hold the script: a condition gets its timeout and half a minute, as an action would.
    const ctx = contextFor(run.replica)
    const test = (c: Condition) => withBackstop(ctx, `${kind} condition`, ((c.timeout as number | undefined) ?? 0) * 1000 + 30_000, testCondition(ctx.page, c, run.outputs))
    if (kind === 'if') {
      const matched = await test(node.condition as Condition)
      const branch = matched ? node.then : node.else
      data = { branch: matched ? 'then' : branch ? 'else' : null, matched, results: branch ? await runSteps(run, branch as Step[], false) : [] }
    } else if (kind === 'repeat') {
      const iterations: StepResult[][] = []
      for (let n = 0; n < (node.count as number) && !run.halted; n++) iterations.push(await runSteps(run, node.steps as Step[], true))
      data = { count: node.count, iterations }
    } else {
      const iterations: StepResult[][] = []
      const max = node.max_iterations as number
      let still = true
      while (!run.halted && (still = await test(node.condition as Condition))) {
        if (iterations.length >= max) break
        iterations.push(await runSteps(run, node.steps as Step[], true))
      }
      data = { iterations, max_iterations: max }
      if (still && iterations.length >= max && !run.halted) {
        error = `while condition still true after ${max} iterations`
        fail(run)
      }
    }
    const ok = !error && (run.failed === failedBefore)
    return { step: i, control: kind, success: ok, duration: secondsSince(t0), data, ...(error ? { error } : {}) }
  } catch (e) {
    fail(run)
    return { step: i, control: kind, success: false, duration: secondsSince(t0), error: (e as Error).message.split('\n')[0] }
  }
}

/** Runs a script on one replica; throws ActionError when the script itself is malformed (nothing has run then). */
export async function runScript(replica: ReplicaHandle, body: Record<string, unknown>, dispatch: Dispatch) {
  const script = readScript(body)
  const t0 = performance.now()
  const run: Run = { replica, dispatch, onError: script.onError, outputs: {}, loopSteps: 0, failed: false, halted: false }
  const stepResults = await runSteps(run, script.steps, false)
  return {
    name: script.name,
    success: !run.failed,
    steps_executed: stepResults.length,
    steps_total: script.steps.length,
    duration: secondsSince(t0),
    step_results: stepResults,
    outputs: run.outputs,
  }
}
