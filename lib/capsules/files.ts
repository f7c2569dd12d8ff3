/** Files of a running capsule. Paths are absolute inside it; the runtime refuses escapes. */
import type { Readable } from 'node:stream'
import { AppError, conflict, forbidden, invalid, notFound } from '../core/errors.ts'
import type { Principal } from '../core/principal.ts'
import type { Scope } from './access.ts'
import type { CapsuleContext } from './context.ts'
import { parseCapsulePath } from './input.ts'
import type { FileEntry } from './runtime/types.ts'

const MAX_LIST_DEPTH = 10

/** Node fs errors from the runtime become clear 4xx answers. */
export function fsError(err: unknown, path: string): unknown {
  if (err instanceof AppError) return err
  switch ((err as NodeJS.ErrnoException)?.code) {
    case 'ENOENT':
      return notFound(`${path}: no such file or directory`, 'file_not_found')
    case 'EEXIST':
      return conflict(`${path} already exists`, 'already_exists')
    case 'ENOTDIR':
      return invalid(`${path}: a parent is not a directory`, 'not_a_directory')
    case 'EISDIR':
      return invalid(`${path} is a directory`, 'is_a_directory')
    case 'ENOTEMPTY':
      return conflict(`${path} is not empty`, 'not_empty')
    case 'EACCES':
    case 'EPERM':
      return forbidden(`${path}: permission denied`, 'permission_denied')
    case 'ENOSPC':
    case 'EDQUOT':
      return new AppError(507, 'no_space', 'the capsule is out of disk space')
    case 'ELOOP':
      return invalid(`${path}: too many levels of symbolic links`, 'invalid_path')
    default:
      return err
  }
}

export function createFileOps(ctx: CapsuleContext) {
  const { runtime } = ctx
  const run = async <T>(path: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (err) {
      throw fsError(err, path)
    }
  }
  const running = async (p: Principal, scope: Scope, id: string, need: 'read' | 'write') => (await ctx.requireRunning(await ctx.load(p, scope, id, need))).id

  const view = (scope: Scope) => ({
    /** Checks access before an upload body is read, so a refused upload fails fast. */
    async assertWritable(p: Principal, id: string): Promise<void> {
      await running(p, scope, id, 'write')
    },

    async read(p: Principal, id: string, rawPath: unknown): Promise<{ size: number; stream: Readable }> {
      const cid = await running(p, scope, id, 'read')
      const path = parseCapsulePath(rawPath)
      const st = await run(path, () => runtime.stat(cid, path))
      if (!st) throw notFound(`${path}: no such file or directory`, 'file_not_found')
      if (st.type === 'dir') throw invalid(`${path} is a directory`, 'is_a_directory')
      return run(path, () => runtime.readFile(cid, path))
    },

    /** Streams `data` into the file (created or replaced). */
    async write(p: Principal, id: string, rawPath: unknown, data: Readable): Promise<{ size: number }> {
      const cid = await running(p, scope, id, 'write')
      const path = parseCapsulePath(rawPath)
      return run(path, () => runtime.writeFile(cid, path, data))
    },

    /** Entries under a directory; depth 0 and 1 both mean its immediate children. */
    async list(p: Principal, id: string, rawPath: unknown, rawDepth: unknown): Promise<FileEntry[]> {
      const cid = await running(p, scope, id, 'read')
      const path = parseCapsulePath(rawPath)
      const depth = rawDepth ?? 1
      if (typeof depth !== 'number' || !Number.isInteger(depth) || depth < 0 || depth > MAX_LIST_DEPTH) throw invalid(`depth must be an integer between 0 and ${MAX_LIST_DEPTH}`)
      const st = await run(path, () => runtime.stat(cid, path))
      if (!st) throw notFound(`${path}: no such file or directory`, 'file_not_found')
      if (st.type !== 'dir') throw invalid(`${path} is not a directory`, 'not_a_directory')
      return run(path, () => runtime.list(cid, path, Math.max(1, depth)))
    },

    /** compat(wrenn): 409 already_exists when anything exists at the path. */
    async mkdir(p: Principal, id: string, rawPath: unknown): Promise<FileEntry> {
      const cid = await running(p, scope, id, 'write')
      const path = parseCapsulePath(rawPath)
      if (await run(path, () => runtime.stat(cid, path))) throw conflict(`${path} already exists`, 'already_exists')
      await run(path, () => runtime.mkdir(cid, path))
      const st = await run(path, () => runtime.stat(cid, path))
      if (!st) throw notFound(`${path}: no such file or directory`, 'file_not_found')
      return st
    },

    async remove(p: Principal, id: string, rawPath: unknown): Promise<void> {
      const cid = await running(p, scope, id, 'write')
      const path = parseCapsulePath(rawPath)
      if (path.replace(/\/+$/, '') === '') throw invalid('refusing to remove the root directory', 'invalid_path')
      if (!(await run(path, () => runtime.stat(cid, path)))) throw notFound(`${path}: no such file or directory`, 'file_not_found')
      await run(path, () => runtime.remove(cid, path))
    },
  })
  return { view }
}
