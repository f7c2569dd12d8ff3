/**
 * The Claude Code command line and its output: the argv of a run (as the seed's
 * claudebox builds it) and a parser of `--output-format stream-json` lines into
 * turns and the final result, in the seed's camelCased shapes.
 */
import { createHash } from 'node:crypto'

export type RunOptions = {
  prompt: string
  model: string | null
  systemPrompt: string | null
  appendSystemPrompt: string | null
  jsonSchema: string | null
  effort: string | null
  /** 'continue': the workspace's last session; 'fresh': a new one; else a session id to resume. */
  session: { mode: 'continue' } | { mode: 'fresh' } | { mode: 'resume'; id: string }
}

/** Where the CLI sits inside a workspace capsule, and the workspace (its cwd). */
export const CLI_DIR_INSIDE = '/opt/claude-code'
export const CLI_INSIDE = `${CLI_DIR_INSIDE}/claude`
export const WORKSPACE_DIR = '/workspace'

export function cliArgs(o: RunOptions): string[] {
  const a = ['--dangerously-skip-permissions']
  if (o.session.mode === 'resume') a.push('--resume', o.session.id)
  else if (o.session.mode === 'continue') a.push('--continue')
  a.push('-p', o.prompt, '--output-format', 'stream-json', '--verbose')
  if (o.model) a.push('--model', o.model)
  if (o.systemPrompt) a.push('--system-prompt', o.systemPrompt)
  if (o.appendSystemPrompt) a.push('--append-system-prompt', o.appendSystemPrompt)
  if (o.jsonSchema) a.push('--json-schema', o.jsonSchema)
  if (o.effort) a.push('--effort', o.effort)
  return a
}

type Obj = Record<string, unknown>
export type TurnBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; toolUseId: string; isError: boolean; content: string; truncated?: true; totalLength?: number; sha256?: string }
export type Turn = { role: 'assistant' | 'tool_result'; content: TurnBlock[] }
export type SystemInfo = { sessionId: string; model: string; cwd: string; tools: string[] }

const camel = (k: string) => k.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
/** snake_case keys → camelCase, all the way down (the CLI's result object). */
export const camelize = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(camelize) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [camel(k), camelize(x)])) : v

const MAX_TOOL_RESULT = 4000

function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) return content.map((b: Obj) => (b.type === 'text' ? String(b.text ?? '') : `[${String(b.type)}]`)).join('\n')
  return content == null ? '' : JSON.stringify(content)
}

/** One stream-json event → a turn (assistant text/tool calls, or tool results), or null for other events. */
export function turnOf(ev: Obj): Turn | null {
  const msg = ev.message as Obj | undefined
  const content = Array.isArray(msg?.content) ? (msg!.content as Obj[]) : []
  if (ev.type === 'assistant') {
    const blocks: TurnBlock[] = []
    for (const b of content) {
      if (b.type === 'text' && typeof b.text === 'string') blocks.push({ type: 'text', text: b.text })
      else if (b.type === 'tool_use') blocks.push({ type: 'tool_use', id: String(b.id), name: String(b.name), input: b.input })
    }
    return blocks.length ? { role: 'assistant', content: blocks } : null
  }
  if (ev.type === 'user') {
    const blocks: TurnBlock[] = []
    for (const b of content) {
      if (b.type !== 'tool_result') continue
      const text = toolResultText(b.content)
      const base = { type: 'tool_result' as const, toolUseId: String(b.tool_use_id), isError: b.is_error === true }
      if (text.length <= MAX_TOOL_RESULT) blocks.push({ ...base, content: text })
      else blocks.push({ ...base, content: text.slice(0, MAX_TOOL_RESULT), truncated: true, totalLength: text.length, sha256: createHash('sha256').update(text).digest('hex') })
    }
    return blocks.length ? { role: 'tool_result', content: blocks } : null
  }
  return null
}

/** Collects a run's stream-json output line by line. */
export function createOutputParser(onTurn: (t: Turn) => void) {
  let buf = ''
  let system: SystemInfo | null = null
  let result: Obj | null = null
  const turns: Turn[] = []
  let resultSeen!: () => void
  const resultPromise = new Promise<void>((r) => (resultSeen = r))
  const line = (l: string) => {
    if (!l.trim()) return
    let ev: Obj
    try {
      ev = JSON.parse(l) as Obj
    } catch {
      return // not an event (a stray line of output)
    }
    if (ev.type === 'system' && ev.subtype === 'init') system = { sessionId: String(ev.session_id), model: String(ev.model), cwd: String(ev.cwd), tools: (ev.tools as string[]) ?? [] }
    else if (ev.type === 'result') {
      result = ev
      resultSeen()
    }
    else {
      const t = turnOf(ev)
      if (t) {
        turns.push(t)
        onTurn(t)
      }
    }
  }
  return {
    push(chunk: Buffer) {
      buf += chunk.toString('utf8')
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        line(buf.slice(0, i))
        buf = buf.slice(i + 1)
      }
    },
    end() {
      line(buf)
      buf = ''
      return { system: system as SystemInfo | null, result: result as Obj | null, turns }
    },
    /** Settles once the result line has been read. */
    result: resultPromise,
    /** Whether anything at all came out (the retry-without-continue rule). */
    get sawOutput() {
      return system !== null || result !== null || turns.length > 0
    },
  }
}

/** The seed's `json` answer: the CLI's result object camelCased (modelUsage and internals left out). */
export function jsonAnswer(result: Obj): Record<string, unknown> {
  const keep = ['type', 'subtype', 'is_error', 'result', 'num_turns', 'duration_ms', 'duration_api_ms', 'total_cost_usd', 'session_id', 'usage', 'structured_output', 'stop_reason', 'permission_denials']
  const out: Record<string, unknown> = {}
  for (const k of keep) if (result[k] !== undefined) out[camel(k)] = camelize(result[k])
  return out
}
