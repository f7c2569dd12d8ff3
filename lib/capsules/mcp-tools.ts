/**
 * Capsule tools for the /mcp/ hub (`capsules-*`): create, list, exec, files,
 * destroy. They act for the calling key's team through the team view of the
 * capsule service, so every rule (roles, another team's capsule is "not
 * found") is the one the Wrenn API applies.
 */
import { Readable } from 'node:stream'
import { z } from 'zod'
import { forbidden, invalid } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import { defineTool, textResult, type ToolCaller, type ToolSet } from '../mcp/types.ts'
import { parseExec } from './processes.ts'
import type { CapsuleService } from './service.ts'
import { toWrennCapsule, toWrennExec, toWrennFileEntry } from './wire.v1.ts'

/** Largest file read_file returns inline. */
const MAX_READ_BYTES = 10 * 1024 * 1024
const BOOT_WAIT_MS = 120_000

const id = z.string().min(1).describe('capsule id (sb-…)')
const path = z.string().min(1).describe('absolute path inside the capsule')

function principalOf(c: ToolCaller): Principal {
  if (!c.principal) throw forbidden('capsule tools act for a team; this key has none (use a team\'s nestbox API key or a virtual key with a team_id)', 'no_team')
  return c.principal
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let n = 0
  for await (const chunk of stream) {
    n += (chunk as Buffer).length
    if (n > limit) {
      stream.destroy()
      throw invalid(`the file is larger than ${limit} bytes; read it over the files API`, 'too_large')
    }
    parts.push(chunk as Buffer)
  }
  return Buffer.concat(parts)
}

export function capsuleTools(s: CapsuleService): ToolSet {
  const team = s.team
  const utf8 = (b: Buffer) => Buffer.from(b.toString('utf8'), 'utf8').equals(b)

  /** A new capsule is answered once it runs (or failed to start), so the next tool call can use it. */
  async function untilStarted(p: Principal, capsuleId: string) {
    const deadline = Date.now() + BOOT_WAIT_MS
    for (;;) {
      const row = await team.get(p, capsuleId)
      if (row.status !== 'starting' && row.status !== 'pending') return row
      if (Date.now() > deadline) return row
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  return {
    name: 'capsules',
    description: 'Sandboxes of the key\'s team: create, run commands, files, destroy',
    tools: [
      defineTool({
        name: 'create',
        description: 'Start a capsule (a sandbox) and wait until it runs. Returns its id and status.',
        input: {
          template: z.string().optional().describe('template or snapshot name; default "minimal"'),
          vcpus: z.number().int().optional(),
          memory_mb: z.number().int().optional(),
          timeout_sec: z.number().int().optional().describe('idle seconds before it pauses; 0 = never'),
          network: z.enum(['none', 'nestbox', 'internet']).optional(),
          metadata: z.record(z.string(), z.string()).optional(),
        },
        run: async (a, c) => {
          const p = principalOf(c)
          const row = await team.create(p, a)
          return textResult(toWrennCapsule(await untilStarted(p, row.id)))
        },
      }),
      defineTool({
        name: 'list',
        description: 'List the team\'s capsules',
        input: {},
        run: async (_a, c) => textResult((await team.list(principalOf(c))).map((r) => toWrennCapsule(r))),
      }),
      defineTool({
        name: 'exec',
        description: 'Run a command in a capsule and return its exit code and output. Without args, cmd is a shell command line.',
        input: { capsule_id: id, cmd: z.string().min(1), args: z.array(z.string()).optional(), envs: z.record(z.string(), z.string()).optional(), cwd: z.string().optional(), timeout_sec: z.number().int().optional().describe('default 30') },
        run: async (a, c) => {
          const { capsule_id, ...body } = a
          const r = await team.processes.exec(principalOf(c), capsule_id, parseExec(body))
          return textResult(toWrennExec(capsule_id, a.cmd, r))
        },
      }),
      defineTool({
        name: 'read_file',
        description: `Read a file of a capsule (text, or base64 when binary; at most ${MAX_READ_BYTES} bytes)`,
        input: { capsule_id: id, path },
        run: async (a, c) => {
          const f = await team.files.read(principalOf(c), a.capsule_id, a.path)
          const buf = await readAll(f.stream, MAX_READ_BYTES)
          const text = utf8(buf)
          return textResult({ path: a.path, size: buf.length, encoding: text ? 'utf-8' : 'base64', content: buf.toString(text ? 'utf8' : 'base64') })
        },
      }),
      defineTool({
        name: 'write_file',
        description: 'Create or replace a file in a capsule from text or base64 content',
        input: { capsule_id: id, path, content: z.string().optional(), content_base64: z.string().optional() },
        run: async (a, c) => {
          if ((a.content === undefined) === (a.content_base64 === undefined)) throw invalid('give exactly one of content or content_base64')
          const bytes = a.content !== undefined ? Buffer.from(a.content, 'utf8') : Buffer.from(a.content_base64!, 'base64')
          const r = await team.files.write(principalOf(c), a.capsule_id, a.path, Readable.from([bytes]))
          return textResult({ path: a.path, size: r.size })
        },
      }),
      defineTool({
        name: 'list_files',
        description: 'List a directory of a capsule',
        input: { capsule_id: id, path, depth: z.number().int().min(1).max(10).optional() },
        run: async (a, c) => textResult((await team.files.list(principalOf(c), a.capsule_id, a.path, a.depth ?? 1)).map(toWrennFileEntry)),
      }),
      defineTool({
        name: 'destroy',
        description: 'Destroy a capsule and everything in it',
        input: { capsule_id: id },
        run: async (a, c) => {
          await team.destroy(principalOf(c), a.capsule_id)
          return textResult({ destroyed: a.capsule_id })
        },
      }),
    ],
  }
}
