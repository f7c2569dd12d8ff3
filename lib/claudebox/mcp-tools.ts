/**
 * compat(claudebox 000): the MCP tools claude_run, read_file, write_file,
 * list_files, delete_file; served alone at {surface}/mcp/ (routes.mcp.ts) and
 * as `{surface}-*` at the /mcp/ hub. File paths start with the workspace name
 * ("myproject/data.csv"; "" lists the workspaces). claude_run starts a fresh
 * session unless no_continue is false.
 */
import { Readable } from 'node:stream'
import { z } from 'zod'
import { isAppError } from '../core/errors.ts'
import { defineTool, errorResult, textResult, type ToolCaller, type ToolResult, type ToolSet } from '../mcp/types.ts'
import { EFFORTS, parseWorkspace } from './input.ts'
import type { Caller, Claudebox } from './service.ts'

const MAX_READ = 1 << 20

function fail(e: unknown): ToolResult {
  if (!isAppError(e)) throw e
  return errorResult(e.message)
}

const splitPath = (path: string) => {
  const [ws, ...rest] = path.replace(/^\/+/, '').split('/')
  return { ws: ws || null, rel: rest.join('/') }
}

export function claudeboxTools(cb: Claudebox): ToolSet {
  const who = async (t: ToolCaller): Promise<Caller> => (t.principal ? cb.callerOf(t.principal) : t.bearer !== undefined ? cb.authenticate(t.bearer) : cb.callerOf(null))
  const tool = <A extends z.ZodRawShape>(name: string, description: string, input: A, run: (a: z.infer<z.ZodObject<A>>, c: Caller) => Promise<ToolResult>) =>
    defineTool({
      name,
      description,
      input,
      run: async (a, t) => {
        try {
          return await run(a, await who(t))
        } catch (e) {
          return fail(e)
        }
      },
    })
  const path = z.string().describe('workspace name, then the path inside it: "myproject/src/main.py"')
  return {
    name: cb.name,
    description: 'Claude Code runs in named workspaces, and their files',
    tools: [
      tool(
        'claude_run',
        'Run a prompt through Claude Code in a workspace; returns its answer',
        {
          prompt: z.string(),
          model: z.string().optional(),
          system_prompt: z.string().optional(),
          append_system_prompt: z.string().optional(),
          json_schema: z.string().optional(),
          workspace: z.string().optional(),
          no_continue: z.boolean().optional().describe('start a fresh session (default true)'),
          resume: z.string().optional().describe('a session id to resume'),
          effort: z.enum(EFFORTS).optional(),
        },
        async (a, c) => {
          if (!a.prompt.trim()) return errorResult('prompt is required')
          const noContinue = a.no_continue ?? true
          const run = cb.run(c, {
            prompt: a.prompt,
            workspace: parseWorkspace(a.workspace),
            model: a.model ?? null,
            systemPrompt: a.system_prompt ?? null,
            appendSystemPrompt: a.append_system_prompt ?? null,
            jsonSchema: a.json_schema ?? null,
            effort: a.effort ?? null,
            outputFormat: 'json',
            noContinue,
            resume: a.resume ?? null,
            fireAndForget: false,
            async: false,
            stream: false,
          }, { fresh: noContinue && !a.resume })
          await run.done
          if (run.status !== 'completed') return errorResult(run.error ?? `run ${run.status}`)
          return textResult(String(run.answer!.result ?? ''))
        },
      ),
      tool('list_files', 'List a workspace directory ("" lists the workspaces)', { path: path.optional() }, async (a, c) => {
        const { ws, rel } = splitPath(a.path ?? '')
        const r = await cb.read(c, ws, rel)
        if (r.kind === 'file') {
          r.stream.destroy()
          return errorResult(`${a.path} is a file`)
        }
        return textResult({ path: r.path, entries: r.entries })
      }),
      tool('read_file', 'Read a text file of a workspace', { path }, async (a, c) => {
        const { ws, rel } = splitPath(a.path)
        if (!ws || !rel) return errorResult('path must be workspace/file')
        const r = await cb.read(c, ws, rel)
        if (r.kind === 'dir') return errorResult(`${a.path} is a directory`)
        if (r.size > MAX_READ) {
          r.stream.destroy()
          return errorResult(`${a.path} is ${r.size} bytes; read_file returns at most ${MAX_READ}`)
        }
        const chunks: Buffer[] = []
        for await (const ch of r.stream) chunks.push(ch as Buffer)
        return textResult(Buffer.concat(chunks).toString('utf8'))
      }),
      tool('write_file', 'Write a text file into a workspace (created on first use)', { path, content: z.string() }, async (a, c) => {
        const { ws, rel } = splitPath(a.path)
        if (!ws || !rel) return errorResult('path must be workspace/file')
        return textResult(await cb.write(c, ws, rel, Readable.from([Buffer.from(a.content, 'utf8')])))
      }),
      tool('delete_file', 'Delete a file or directory of a workspace', { path }, async (a, c) => {
        const { ws, rel } = splitPath(a.path)
        if (!ws || !rel) return errorResult('path must be workspace/file')
        return textResult(await cb.remove(c, ws, rel))
      }),
    ],
  }
}
